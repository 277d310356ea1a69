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

A delivery to a trigger this process remembers (webhooks/delivery.py) is tried first, in
front of Django's handler: the same WSGIRequest, the middleware's own checks and headers
applied around it (``_remembered_response``). When that stores the delivery, its answer is
a ``StoredAnswer`` — the JSON body, its headers and SecurityMiddleware's (computed once per
scheme, as that middleware sets the same ones on every response) — handed straight to the
server, and the connection upkeep that Django's request signals would do is done directly
(``connection_upkeep``): their dispatch cost a tenth of such a delivery's CPU. Anything else
— a refusal, or a delivery the full way must decide — continues in Django's handler with
the request already built, signals, URL resolution and all (``WebhookHandler.__call__``).
docs/benchmarks.md has the figures.
"""

import json
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.core.wsgi import get_wsgi_application
from django.db import connections, reset_queries
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
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
# In the environ of a delivery the lean way tried and left to Django's handler:
# (the request it built, its refusal or None).
_TRIED = "config.handlers.lean_tried"


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

    def __call__(self, environ, start_response):
        """A delivery the lean way stores is answered here; any other goes on through
        Django's WSGIHandler.__call__, with the request and refusal of that try."""
        if self._security is not None:
            set_script_prefix(get_script_name(environ))
            connection_upkeep()  # request_started's receivers
            request = WSGIRequest(environ)
            answer = self._remembered_response(request)
            if isinstance(answer, StoredAnswer):
                start_response(answer.status_line, answer.items())
                return answer
            environ[_TRIED] = (request, answer)
        return super().__call__(environ, start_response)

    def request_class(self, environ):
        """The request WSGIHandler.__call__ serves: the one the lean way built, if it tried."""
        tried = environ.get(_TRIED)
        return WSGIRequest(environ) if tried is None else tried[0]

    def get_response(self, request):
        tried = request.META.pop(_TRIED, None)
        response = None if tried is None else tried[1]
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
        answer = self._receive_remembered(request)
        if answer is None:
            return None
        if isinstance(answer, HttpResponse):  # a refusal (a host outside ALLOWED_HOSTS …)
            return self._security.process_response(request, answer)
        return StoredAnswer(
            answer.status, answer.body, answer.headers, self._security_headers[request.is_secure()]
        )


class StoredAnswer:
    """The answer to a stored delivery, as the WSGI server takes it: ``status_line`` and
    ``items()`` for start_response, iterated for the body, and closed by the server, which
    then does what ``request_finished``'s receivers do (``connection_upkeep``), as
    HttpResponse.close sends that signal. Only for 2xx answers: Django logs 4xx and 5xx
    responses, which this does not."""

    def __init__(self, status: int, body: dict, headers: dict, security_headers: list) -> None:
        self.status_line = f"{status} {HTTPStatus(status).phrase}"
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
        connection_upkeep()  # request_finished's receivers


def connection_upkeep() -> None:
    """What Django's receivers of ``request_started`` and ``request_finished`` do, for a
    delivery answered without them: database connections past ``CONN_MAX_AGE`` or unusable
    are closed (``close_old_connections``), and DEBUG's query log is cleared. (They also
    close the caches, which a delivery never opens.)

    A connection inside a transaction is left alone. A delivery never holds one open (each
    INSERT commits on its own), so only the caller's can: a test's, which closing would
    break — Django's test client disconnects those receivers for the same reason."""
    if settings.DEBUG:
        reset_queries()
    for alias_connection in connections.all(initialized_only=True):
        if not alias_connection.in_atomic_block:
            alias_connection.close_if_unusable_or_obsolete()


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
