"""The WSGI application: Django's handler, with webhook deliveries sent through a lean one.

A webhook delivery (``/hooks/…``) comes from a machine that signs or authenticates it in
the ingestion pipeline (docs/webhooks.md): it has no session, cookie, CSRF token, user,
flash message or frame to protect, and never asks for a static file. The service's
middleware for browsers and the API costs about 13 % of the web process's instructions per
delivery, for nothing (docs/benchmarks.md), so those paths get a handler with
``WEBHOOK_MIDDLEWARE`` only (by default Django's SecurityMiddleware, so the HTTPS settings
hold on every route). Everything else about the request is Django's own: URL resolution,
the ``request_started``/``request_finished`` signals that recycle database connections,
and the conversion of an uncaught exception into a 500.

A delivery to a trigger this process remembers (webhooks/delivery.py) is answered before
URL resolution and the middleware chain, with the middleware's own checks and headers
applied around it; anything else goes the usual way (``WebhookHandler.get_response``).
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response
from django.utils.module_loading import import_string

WEBHOOK_PATH_PREFIX = "/hooks/"  # config/urls.py mounts every delivery route under it
# Hooks of Django's handler that this one does not call.
_UNSUPPORTED_HOOKS = ("process_view", "process_exception", "process_template_response")
# The middleware whose checks the lean way repeats itself (``_remembered_response``).
_LEAN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.UnstorablePathMiddleware",
]


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with ``settings.WEBHOOK_MIDDLEWARE`` instead of ``MIDDLEWARE``.

    Only synchronous middleware that wraps the response is supported (no ``process_view``,
    ``process_exception`` or ``process_template_response`` hooks); any other is refused
    with ImproperlyConfigured when the handler is built, at start-up.
    """

    def load_middleware(self, is_async=False):
        if is_async:  # the chain below is synchronous; an ASGI server would need another
            raise ValueError("WebhookHandler builds a synchronous (WSGI) chain only.")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.WEBHOOK_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if unsupported := [hook for hook in _UNSUPPORTED_HOOKS if hasattr(middleware, hook)]:
                raise ImproperlyConfigured(
                    f"WEBHOOK_MIDDLEWARE {path} has {', '.join(unsupported)}, "
                    "which the webhook handler does not call."
                )
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler
        # Another middleware list may check what the lean way would skip: only the usual way.
        lean = list(settings.WEBHOOK_MIDDLEWARE) == _LEAN_MIDDLEWARE
        self._security = SecurityMiddleware(handler) if lean else None
        from webhooks.views import receive_remembered  # models load after django.setup()

        self._receive_remembered = receive_remembered

    def get_response(self, request):
        response = self._remembered_response(request)
        if response is None:
            return super().get_response(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:  # as Django's get_response logs them
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response

    def _remembered_response(self, request):
        """The answer to a delivery the remembered trigger's one statement settles, with
        what _LEAN_MIDDLEWARE does around it; None: go the usual way (nothing stored)."""
        if self._security is None or "\x00" in request.path:
            return None  # UnstorablePathMiddleware's 404 is the usual way's
        if self._security.process_request(request) is not None:
            return None  # SECURE_SSL_REDIRECT's redirect, likewise
        response = self._receive_remembered(request)
        return None if response is None else self._security.process_response(request, response)


def get_application():
    """The WSGI callable: deliveries to the lean handler, every other path to Django's."""
    service = get_wsgi_application()
    webhooks = WebhookHandler()

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX):
            return webhooks(environ, start_response)
        return service(environ, start_response)

    return application
