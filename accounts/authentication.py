from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.selectors import api_token_find
from accounts.services import api_token_touch


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a token from ``create_api_token``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Malformed bearer token.")
        api_token = api_token_find(token=token)
        if api_token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        api_token_touch(token=api_token)
        return api_token.user, api_token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate challenge.
        return self.keyword


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
