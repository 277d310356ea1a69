"""``POST /token``: the OAuth2 password flow the provider API's contract declares.

The form (``application/x-www-form-urlencoded``) carries ``grant_type=password``,
``username``, ``password`` and optionally ``scope``; the answer is ``{access_token,
token_type: "bearer", expires_in}``, a token that works as ``Authorization: Bearer`` on every
surface until it expires (``OAUTH_TOKEN_TTL_SECONDS``). A user who belongs to several
tenants chooses one with the scope ``tenant:<id>``. Wrong credentials are a 401; repeated
failures for one username from one address are refused with 429 and ``Retry-After``
(accounts/throttling.py); the address is the client's, behind ``NUM_PROXIES`` the one the
proxy saw, as for every throttle. Swagger UI's *Authorize* posts exactly this form.
"""

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, parsers, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import throttling
from accounts.admin_login import client_address
from accounts.authentication import BearerTokenAuthentication
from accounts.models import Membership
from accounts.services import api_token_create

TENANT_SCOPE = "tenant:"


class TokenRequestSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=["password"])
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    scope = serializers.CharField(required=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True)
    client_secret = serializers.CharField(required=False, allow_blank=True)


class TokenView(APIView):
    authentication_classes = [BearerTokenAuthentication]  # a 401 says how to authenticate
    permission_classes = [permissions.AllowAny]
    parser_classes = [parsers.FormParser, parsers.MultiPartParser]
    documented_errors = ("400", "401", "415", "429")

    @extend_schema(
        summary="Get an access token (OAuth2 password flow)",
        request={"application/x-www-form-urlencoded": TokenRequestSerializer},
        responses={
            200: inline_serializer(
                "AccessToken",
                {
                    "access_token": serializers.CharField(),
                    "token_type": serializers.ChoiceField(choices=["bearer"]),
                    "expires_in": serializers.IntegerField(),
                },
            )
        },
        auth=[],
    )
    def post(self, request):
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        username, password = form.validated_data["username"], form.validated_data["password"]
        address = client_address(request)
        wait = throttling.login_blocked_for(username=username, address=address)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed logins; try later.")
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            throttling.login_failed(username=username, address=address)
            raise exceptions.AuthenticationFailed("Incorrect username or password.")
        throttling.login_succeeded(username=username, address=address)
        membership = _membership(user, form.validated_data.get("scope", ""))
        _, token = api_token_create(
            membership=membership,
            name="oauth2 password flow",
            expires_in_seconds=settings.OAUTH_TOKEN_TTL_SECONDS,
        )
        return Response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": settings.OAUTH_TOKEN_TTL_SECONDS,
            },
            headers={"Cache-Control": "no-store"},
        )


def _membership(user, scope: str) -> Membership:
    """The tenant the token acts for: the user's only one, or ``tenant:<id>`` in the scope."""
    memberships = Membership.objects.select_related("tenant").filter(user=user)
    wanted = [part[len(TENANT_SCOPE) :] for part in scope.split() if part.startswith(TENANT_SCOPE)]
    if wanted:
        memberships = memberships.filter(tenant_id=wanted[0])
    found = list(memberships[:2])
    if len(found) == 1:
        return found[0]
    if not found:
        raise exceptions.AuthenticationFailed("Not a member of that tenant.")
    raise exceptions.ValidationError(
        {"scope": ["A member of several tenants: ask for one with the scope tenant:<id>."]}
    )
