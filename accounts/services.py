"""Writes for tenants, memberships, tokens, projects, agents and credentials."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import MembershipRole
from accounts.encryption import encrypt_secret
from accounts.identifiers import generate_public_id, public_id_problem
from accounts.models import (
    Agent,
    ApiToken,
    Credential,
    Membership,
    OutsideAccount,
    Project,
    Tenant,
    UserIdentity,
)
from accounts.signals import agent_deletion_requested, credential_deleting

API_TOKEN_PREFIX = "trg_"


def api_token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no brute force to slow down).
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def tenant_member_ensure(
    *, username: str, tenant_id: str, role: str = MembershipRole.OWNER
) -> Membership:
    """The user, tenant and membership, each created when missing (existing ones kept)."""
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id, defaults={"name": tenant_id})
    user, _ = get_user_model().objects.get_or_create(username=username)
    membership, _ = Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def tenant_save(*, tenant: Tenant) -> Tenant:
    """Store a tenant as the admin's form filled it — a new one, or a changed name or history
    retention (``execution_retention_days``: None, the service's EXECUTION_RETENTION_DAYS; 0,
    forever) — after the model's own checks (ValidationError naming the field)."""
    tenant.full_clean(validate_unique=tenant._state.adding)
    tenant.save()
    return tenant


def user_identity_ensure(*, user: AbstractBaseUser) -> UserIdentity:
    """The user's public id, made the first time it is asked for (a new user's is made when
    the user is saved: accounts/receivers.py)."""
    identity, _ = UserIdentity.objects.get_or_create(user=user)
    return identity


def api_token_create(
    *, membership: Membership, name: str = "", expires_in_seconds: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for the member, valid for ``expires_in_seconds`` (None: until revoked);
    returns the row and the token, which is never stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None
    if expires_in_seconds is not None:
        expires_at = timezone.now() + timedelta(seconds=expires_in_seconds)
    row = ApiToken.objects.create(
        tenant=membership.tenant,
        user=membership.user,
        name=name,
        prefix=token[:12],
        digest=api_token_digest(token),
        expires_at=expires_at,
    )
    return row, token


def api_token_touch(*, token: ApiToken) -> None:
    """Record use, at most once a minute per token so reads do not all become writes."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _create_unique(model, *, taken: dict[str, str], **fields):
    """``model.objects.create(**fields)``; a unique clash, also one with a concurrent writer,
    is the ValidationError ``taken`` (field → message), and the transaction goes on."""
    try:
        with transaction.atomic():
            return model.objects.create(**fields)
    except IntegrityError:
        raise ValidationError(taken) from None


def project_create(*, tenant: Tenant, name: str, public_id: str | None = None) -> Project:
    return _create_unique(
        Project,
        taken={"public_id": "A project with this id already exists."},
        tenant=tenant,
        name=name,
        public_id=public_id or generate_public_id("prj"),
    )


def project_ensure(*, tenant: Tenant, public_id: str) -> Project:
    """The tenant's project ``public_id``, made (named after its id) when the tenant has none:
    the provider API names its projects in its paths and has no call that makes one
    (docs/provider-api.md). Raises ValidationError naming ``public_id`` for an id outside
    the pattern. In the caller's transaction: a trigger refused rolls its project back."""
    if problem := public_id_problem(public_id):
        raise ValidationError({"public_id": problem})
    project, _ = Project.objects.get_or_create(
        tenant=tenant,
        public_id=public_id,
        defaults={"name": public_id[: Project._meta.get_field("name").max_length]},
    )
    return project


def agent_create(
    *, tenant: Tenant, project: Project, name: str, public_id: str | None = None
) -> Agent:
    if project.tenant_id != tenant.pk:
        raise ValidationError({"project": "Belongs to another tenant."})
    return _create_unique(
        Agent,
        taken={"public_id": "An agent with this id already exists (possibly pending deletion)."},
        tenant=tenant,
        project=project,
        name=name,
        public_id=public_id or generate_public_id("agt"),
    )


@transaction.atomic
def agent_request_deletion(*, agent: Agent) -> Agent:
    """Mark the agent pending deletion; its triggers become stale (they can no longer run)."""
    updated = Agent.objects.filter(pk=agent.pk, deletion_requested_at__isnull=True).update(
        deletion_requested_at=timezone.now()
    )
    agent.refresh_from_db(fields=["deletion_requested_at"])
    if updated:
        agent_deletion_requested.send(sender=Agent, agent=agent)
    return agent


def credential_create(
    *,
    tenant: Tenant,
    name: str,
    value: str,
    provider_id: str = "",
    created_by: AbstractBaseUser | None = None,
) -> Credential:
    """A secret of the tenant; with ``provider_id``, a connection to that provider."""
    return _create_unique(
        Credential,
        taken={"name": "A credential with this name already exists."},
        tenant=tenant,
        name=name,
        encrypted_value=encrypt_secret(value),
        provider_id=provider_id,
        created_by=created_by,
    )


def credential_set_value(*, credential: Credential, value: str) -> Credential:
    credential.encrypted_value = encrypt_secret(value)
    credential.save(update_fields=["encrypted_value", "updated_at"])
    return credential


def credential_update(
    *, credential: Credential, name: str, provider_id: str, value: str | None = None
) -> Credential:
    """Rename the credential or change its provider, and replace its value when one is given
    (None or "": keep it), in one write. Its tenant never changes: a secret stays with the
    tenant whose triggers name it. A name another of the tenant's credentials has is the
    ValidationError ``credential_create`` gives."""
    credential.name, credential.provider_id = name, provider_id
    fields = ["name", "provider_id", "updated_at"]
    if value:
        credential.encrypted_value = encrypt_secret(value)
        fields.append("encrypted_value")
    try:
        with transaction.atomic():
            credential.save(update_fields=fields)
    except IntegrityError:
        raise ValidationError({"name": "A credential with this name already exists."}) from None
    return credential


@transaction.atomic
def credential_delete(*, credential: Credential) -> None:
    """Delete the secret; triggers that relied on it become stale."""
    credential_deleting.send(sender=Credential, credential=credential)
    credential.delete()


class OutsideAccountTaken(ValidationError):
    """An outside account that belongs to another tenant was named: a 409 on every surface
    (api/errors.py reads ``http_status``)."""

    http_status = 409


@transaction.atomic
def outside_account_claim(
    *, tenant: Tenant, provider_id: str, account_id: str, bound_by: str
) -> OutsideAccount:
    """Bind the outside account to ``tenant`` unless it is bound already: the first tenant
    to name an account owns it. Raises OutsideAccountTaken when another tenant does."""
    account, created = OutsideAccount.objects.get_or_create(
        provider_id=provider_id,
        account_id=account_id,
        defaults={"tenant": tenant, "bound_by": bound_by, "bound_at": timezone.now()},
    )
    if created or account.tenant_id == tenant.pk:
        return account
    # Seen but unclaimed: the first claim wins, decided by the database.
    claimed = OutsideAccount.objects.filter(pk=account.pk, tenant__isnull=True).update(
        tenant=tenant, bound_by=bound_by, bound_at=timezone.now()
    )
    account.refresh_from_db()
    if claimed or account.tenant_id == tenant.pk:
        return account
    raise OutsideAccountTaken(
        f"{provider_id} account '{account_id}' belongs to another organisation; an operator "
        "can move it in the admin."
    )


def outside_account_bind(*, account: OutsideAccount, tenant: Tenant | None, bound_by: str) -> None:
    """An operator binds (or moves, or frees: ``tenant`` None) an outside account."""
    account.tenant = tenant
    account.bound_by = bound_by if tenant is not None else ""
    account.bound_at = timezone.now() if tenant is not None else None
    account.full_clean()
    account.save()


def outside_account_owner(*, provider_id: str, account_id: str | None) -> str | None:
    """The id of the tenant the outside account belongs to, or None: its events reach no one.

    An unbound account's event is recorded for the admin (``last_unrouted_at``). On an install
    with one tenant (and ``OUTSIDE_ACCOUNTS_BIND_TO_ONLY_TENANT``), an unbound account is bound
    to that tenant at its first event, so a one-tenant operator never has to bind anything.
    """
    if not account_id:
        return None
    found = (
        OutsideAccount.objects.filter(provider_id=provider_id, account_id=account_id)
        .values_list("tenant_id", flat=True)
        .first()
    )
    if found is not None:
        return found
    if settings.OUTSIDE_ACCOUNTS_BIND_TO_ONLY_TENANT:
        tenants = list(Tenant.objects.order_by("pk")[:2])
        if len(tenants) == 1:
            return outside_account_claim(
                tenant=tenants[0],
                provider_id=provider_id,
                account_id=account_id,
                bound_by="the only tenant, at the account's first event",
            ).tenant_id
    _record_unrouted(provider_id, account_id)
    return None


def _record_unrouted(provider_id: str, account_id: str) -> None:
    """The account's event reached no one: noted on its row (made at its first such event;
    a concurrent event or claim may have made it already, which the insert leaves alone)."""
    now = timezone.now()
    OutsideAccount.objects.bulk_create(
        [OutsideAccount(provider_id=provider_id, account_id=account_id, last_unrouted_at=now)],
        ignore_conflicts=True,
    )
    OutsideAccount.objects.filter(
        provider_id=provider_id, account_id=account_id, tenant__isnull=True
    ).update(last_unrouted_at=now)
