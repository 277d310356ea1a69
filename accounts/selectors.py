"""Reads: who is calling, for which tenant, and the tenant's objects."""

import uuid

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import (
    Agent,
    ApiToken,
    Credential,
    Membership,
    Project,
    Tenant,
    UserIdentity,
)
from accounts.services import api_token_digest, user_identity_ensure

TENANT_HEADER = "X-Tenant"
# The largest key a user can have (PostgreSQL's integer): a bigger number names no one, and
# never reaches the database, which would refuse it.
_MAX_USER_KEY = 2**31 - 1


def api_token_find(*, token: str) -> ApiToken | None:
    """The live token with this value — not revoked, not expired — whose user is still an
    active member of its tenant."""
    return (
        ApiToken.objects.select_related("user", "tenant")
        .filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()),
            digest=api_token_digest(token),
            revoked_at__isnull=True,
            user__is_active=True,
            user__memberships__tenant_id=F("tenant_id"),
        )
        .first()
    )


def membership_for_request(request, path_tenant: str | None = None) -> Membership | None:
    """The caller's membership: the token's tenant, or for a browser session its only tenant
    (or the one named in the ``X-Tenant`` header, else the one the path names —
    ``path_tenant``, the management API's ``tenantId`` — when the user belongs to several)."""
    if hasattr(request, "_membership_cache"):
        return request._membership_cache
    membership = None
    user = request.user
    if user is not None and user.is_authenticated:
        memberships = Membership.objects.select_related("tenant").filter(user=user)
        if isinstance(request.auth, ApiToken):
            membership = memberships.filter(tenant_id=request.auth.tenant_id).first()
        else:
            wanted = request.headers.get(TENANT_HEADER) or path_tenant
            if wanted:
                membership = memberships.filter(tenant_id=wanted).first()
            else:
                found = list(memberships[:2])
                membership = found[0] if len(found) == 1 else None
    request._membership_cache = membership
    return membership


def project_list(*, tenant: Tenant) -> QuerySet[Project]:
    return Project.objects.filter(tenant=tenant)


def agent_list(*, tenant: Tenant) -> QuerySet[Agent]:
    """Live agents: pending-deletion ones are gone as far as the APIs are concerned."""
    return Agent.objects.filter(tenant=tenant, deletion_requested_at__isnull=True).select_related(
        "project"
    )


def credential_list(*, tenant: Tenant) -> QuerySet[Credential]:
    return Credential.objects.filter(tenant=tenant)


def user_public_id(user) -> uuid.UUID:
    """``user``'s public id (UserIdentity). Lists select ``<user field>__identity`` with the
    user, so this reads no row; a user made without its identity (raw SQL) gets one here."""
    try:
        return user.identity.public_id
    except UserIdentity.DoesNotExist:
        return user_identity_ensure(user=user).public_id


def user_public_ids(*, user_ids) -> dict[int, uuid.UUID]:
    """The public ids of the users ``user_ids`` names (integer keys), in one query; a user that
    no longer exists is left out."""
    wanted = {int(user_id) for user_id in user_ids if str(user_id).isdigit()}
    if not wanted:
        return {}
    return dict(UserIdentity.objects.filter(user_id__in=wanted).values_list("user_id", "public_id"))


def tenant_member_named(*, tenant: Tenant, reference) -> Membership | None:
    """The member of ``tenant`` that ``reference`` names: the user's public id (a uuid), or,
    as the APIs showed a user before they had one, its integer id. None: no such member."""
    text = str(reference).strip()
    try:
        match = {"user__identity__public_id": uuid.UUID(text)}
    except ValueError:
        if not (text.isascii() and text.isdigit()) or int(text) > _MAX_USER_KEY:
            return None
        match = {"user_id": int(text)}
    return Membership.objects.filter(tenant=tenant, **match).select_related("user").first()
