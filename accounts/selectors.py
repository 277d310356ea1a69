"""Reads: who is calling, for which tenant, and the tenant's objects."""

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import Agent, ApiToken, Credential, Membership, Project, Tenant
from accounts.services import api_token_digest

TENANT_HEADER = "X-Tenant"


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


def membership_for_request(request) -> Membership | None:
    """The caller's membership: the token's tenant, or for a browser session its only tenant
    (or the one named in the ``X-Tenant`` header when the user belongs to several)."""
    if hasattr(request, "_membership_cache"):
        return request._membership_cache
    membership = None
    user = request.user
    if user is not None and user.is_authenticated:
        memberships = Membership.objects.select_related("tenant").filter(user=user)
        if isinstance(request.auth, ApiToken):
            membership = memberships.filter(tenant_id=request.auth.tenant_id).first()
        else:
            wanted = request.headers.get(TENANT_HEADER)
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
