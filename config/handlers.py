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
Its answer to a stored delivery is a ``StoredAnswer``: the JSON body, its headers and
SecurityMiddleware's (computed once per scheme, as that middleware sets the same ones on
every response), handed to Django's WSGI handler as a response, which sends
``request_finished`` when the server closes it. An HttpResponse costs more than the rest of
the answer; docs/benchmarks.md has the figures.
"""

import json
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
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
        if lean:
            self._security_headers = {
                secure: _headers_set_by(self._security, secure) for secure in (False, True)
            }
        from webhooks.views import receive_remembered  # models load after django.setup()

        self._receive_remembered = receive_remembered

    def get_response(self, request):
        response = self._remembered_response(request)
        if response is None:
            return super().get_response(request)
        if isinstance(response, StoredAnswer):
            return response
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
        answer = self._receive_remembered(request)
        if answer is None:
            return None
        if isinstance(answer, HttpResponse):  # a refusal (a host outside ALLOWED_HOSTS …)
            return self._security.process_response(request, answer)
        return StoredAnswer(
            answer.status, answer.body, answer.headers, self._security_headers[request.is_secure()]
        )


class StoredAnswer:
    """The answer to a stored delivery, read by Django's WSGIHandler as it reads a response:
    ``status_code``, ``reason_phrase``, ``items()``, ``cookies``, iterated for the body, and
    closed by the server, which sends ``request_finished`` as HttpResponse.close does.
    Only for 2xx answers: Django logs 4xx and 5xx responses, which this does not."""

    cookies: dict = {}  # never set: read by WSGIHandler, as a response's
    file_to_stream = None

    def __init__(self, status: int, body: dict, headers: dict, security_headers: list) -> None:
        self.status_code = status
        self.reason_phrase = HTTPStatus(status).phrase
        self.content = json.dumps(body).encode()
        self._headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self.content))),
            *headers.items(),
            *security_headers,
        ]

    def items(self) -> list[tuple[str, str]]:
        return self._headers

    def __iter__(self):
        return iter((self.content,))

    def close(self) -> None:
        request_finished.send(sender=self._handler_class)


class _Scheme:
    """What SecurityMiddleware.process_response reads of a request: whether it is HTTPS."""

    def __init__(self, secure: bool) -> None:
        self._secure = secure

    def is_secure(self) -> bool:
        return self._secure


def _headers_set_by(security: SecurityMiddleware, secure: bool) -> list[tuple[str, str]]:
    """The headers SecurityMiddleware adds to a JSON response on an HTTP(S) request."""
    response = HttpResponse(content_type="application/json")
    response = security.process_response(_Scheme(secure), response)
    return [(name, value) for name, value in response.items() if name != "Content-Type"]


def get_application():
    """The WSGI callable: deliveries to the lean handler, every other path to Django's."""
    service = get_wsgi_application()
    webhooks = WebhookHandler()

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PATH_PREFIX):
            return webhooks(environ, start_response)
        return service(environ, start_response)

    return application
