import math

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.throttling import SimpleRateThrottle

from accounts.selectors import api_token_find
from accounts.services import api_token_touch


class FailedTokenThrottle(SimpleRateThrottle):
    """Failed bearer-token authentications per client address, at most
    ``THROTTLE_FAILED_TOKENS`` (``"30/min"``): past it, every bearer token from that address
    is answered 429 with Retry-After, unchecked, until the window frees — guessing tokens
    cannot go on at full speed. Counts live in Django's cache (Redis when the broker is)."""

    scope = "failed_token"

    def get_rate(self) -> str:
        return settings.THROTTLE_FAILED_TOKENS

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def wait_if_blocked(self, request) -> float | None:
        """Seconds until this address may try again, or None when it may now (not counted)."""
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) < self.num_requests:
            return None
        # Newest first: the window frees when the num_requests-th newest failure leaves it.
        return max(1, math.ceil(self.history[self.num_requests - 1] + self.duration - self.now))

    def record_failure(self) -> None:
        """Count one failure (after wait_if_blocked, on the same request)."""
        self.throttle_success()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a token from ``create_api_token``; repeated
    failures from one address are throttled (FailedTokenThrottle)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        return self._authenticate_token(request, token)

    def _authenticate_token(self, request, token: str):
        throttle = FailedTokenThrottle()
        wait = throttle.wait_if_blocked(request)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail="Too many failed token authentications from this address."
            )
        token = token.strip()
        if not token or " " in token:
            throttle.record_failure()
            raise exceptions.AuthenticationFailed("Malformed token.")
        api_token = api_token_find(token=token)
        if api_token is None:
            throttle.record_failure()
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        api_token_touch(token=api_token)
        return api_token.user, api_token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate challenge.
        return self.keyword


# The cookie the management API's contract names for its browser clients ("cookies with
# names starting with better-auth."; docs/management-api.md, "Authentication").
SESSION_TOKEN_COOKIE = "better-auth.session_token"


class SessionTokenCookieAuthentication(BearerTokenAuthentication):
    """An API token sent as the ``better-auth.session_token`` cookie instead of a bearer
    header (the management API's cookieAuth); checked and throttled as a bearer token.

    A cookie is sent by the browser on every request to this host, a cross-site one too, so
    a write (any method but GET, HEAD, OPTIONS) that names another site as its ``Origin`` is
    refused: the CSRF protection a session cookie has, for a cookie with no CSRF token.
    Browsers send ``Origin`` on every cross-site write; clients that are not browsers send
    none and are not affected. This host (``PUBLIC_BASE_URL``, the request's own address)
    and ``CSRF_TRUSTED_ORIGINS`` are this site."""

    def authenticate(self, request):
        token = request.COOKIES.get(SESSION_TOKEN_COOKIE)
        if not token:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            _refuse_cross_site(request)
        return self._authenticate_token(request, token)

    def authenticate_header(self, request) -> str:
        return self.keyword


def _refuse_cross_site(request) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    own = {settings.PUBLIC_BASE_URL, f"{request.scheme}://{request.get_host()}"}
    if origin.rstrip("/") not in own | set(settings.CSRF_TRUSTED_ORIGINS):
        raise exceptions.PermissionDenied(
            f"A write authenticated by the {SESSION_TOKEN_COOKIE} cookie must come from this "
            f"site, not from {origin}."
        )


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """A bearer token, from ``manage.py create_api_token`` or the OAuth2 password flow
    (``POST /token``), which Swagger UI's *Authorize* uses."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = ["bearerAuth", "OAuth2PasswordBearer"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "oauth2", "flows": {"password": {"tokenUrl": "/token", "scopes": {}}}},
        ]


class SessionTokenCookieScheme(OpenApiAuthenticationExtension):
    """The management API's cookieAuth: an API token in the ``better-auth.session_token``
    cookie."""

    target_class = "accounts.authentication.SessionTokenCookieAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": SESSION_TOKEN_COOKIE}


class DjangoSessionScheme(OpenApiAuthenticationExtension):
    """Django's session cookie (the ops console's logged-in users), named apart from the
    management API's cookieAuth, which is the contract's name for the token cookie."""

    target_class = "rest_framework.authentication.SessionAuthentication"
    name = "sessionAuth"
    priority = 1  # over drf-spectacular's own, which calls it cookieAuth too

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
