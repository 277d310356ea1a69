"""Middleware of the service's own (settings: MIDDLEWARE and WEBHOOK_MIDDLEWARE)."""

from django.http import Http404


class UnstorablePathMiddleware:
    """A path with U+0000 names nothing: PostgreSQL can neither store nor compare NUL, so a
    view that looked such a path's id or token up would fail with a 500. Answered 404 first,
    in the format of the surface the path falls under (config/views.py). Wraps the response
    only (no view hooks), so the webhook handler runs it too (config/handlers.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            raise Http404("No such path.")
        return self.get_response(request)
