from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes as the API contracts write them, without a trailing slash; one is tolerated."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
