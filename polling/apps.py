from django.apps import AppConfig


class PollingConfig(AppConfig):
    name = "polling"

    def ready(self) -> None:
        from polling import receivers  # noqa: F401 - connects the Beat tick
