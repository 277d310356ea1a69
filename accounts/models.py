"""Ownership: Tenant -> Project -> Agent, users in tenants through memberships.

Projects and agents carry a surrogate integer key plus ``public_id``, the string id the
APIs show. ``public_id`` is unique *within a tenant*, so one tenant choosing "default"
never collides with, or reveals, another tenant's "default".
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, URLValidator
from django.db import models

from accounts.choices import MembershipRole
from accounts.identifiers import PUBLIC_ID_MAX_LENGTH, validate_public_id

# A hundred years: longer is "forever", which 0 says.
MAX_RETENTION_DAYS = 36_500


class Tenant(models.Model):
    id = models.CharField(
        primary_key=True, max_length=PUBLIC_ID_MAX_LENGTH, validators=[validate_public_id]
    )
    name = models.CharField(max_length=200)
    # How long this tenant's finished executions are kept, replacing EXECUTION_RETENTION_DAYS
    # for it; 0 keeps them forever (executions/services/retention.py).
    execution_retention_days = models.PositiveIntegerField(
        "history kept (days)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Finished executions older than this are deleted; 0 keeps them forever. "
        "Empty: the service's EXECUTION_RETENTION_DAYS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.id


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(
        max_length=16, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id} ({self.role})"


class UserIdentity(models.Model):
    """A user's public id: the uuid every API shows where a contract says a user id is a uuid
    (the provider API's ``created_by``/``updated_by``, the management API's ``runAsUserIds``)
    and accepts where a user is named. The user's integer key stays internal. Every user has
    one, from the moment it is created (accounts/receivers.py; migration 0005 for older ones),
    and it never changes."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="identity",
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        verbose_name_plural = "user identities"

    def __str__(self) -> str:
        return f"{self.user} ({self.public_id})"


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 digest is stored, the token is shown once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    # The first characters, kept so ops staff can tell tokens apart in the admin.
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Tokens of the OAuth2 password flow (POST /token) expire; create_api_token's do not.
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class Project(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="projects")
    public_id = models.CharField(max_length=PUBLIC_ID_MAX_LENGTH, validators=[validate_public_id])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "public_id"], name="project_public_id_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class Agent(models.Model):
    """An AI agent that triggers run; ``deletion_requested_at`` marks it pending deletion."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="agents")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    public_id = models.CharField(max_length=PUBLIC_ID_MAX_LENGTH, validators=[validate_public_id])
    name = models.CharField(max_length=200)
    # How its executions reach it (docs/runners.md); blank: the EXECUTION_RUNNER setting.
    runner = models.CharField(
        max_length=16,
        blank=True,
        choices=[
            ("dry_run", "Dry run"),
            ("http", "HTTP (agent runtime)"),
            ("openai", "OpenAI-compatible"),
        ],
    )
    # The agent's own runtime for the http runner; blank: AGENT_RUNTIME_URL. Guarded
    # against private addresses (executions/runners/outbound.py).
    runtime_url = models.URLField(
        max_length=500, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "public_id"], name="agent_public_id_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_pending_deletion(self) -> bool:
        return self.deletion_requested_at is not None


class Credential(models.Model):
    """A named secret (signing secret, API key, OAuth token); the value is Fernet-encrypted at
    rest. One bound to a provider (``provider_id``: ``stripe``, ``github`` …) is what the
    provider API calls a *connection*."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=200)
    provider_id = models.CharField(max_length=64, blank=True)
    encrypted_value = models.TextField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="credential_name_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.name


class OutsideAccount(models.Model):
    """An account at an outside provider whose app sends events here — a Slack workspace
    (``team_id``), a GitHub account (the owner login), a Stripe account (``acct_…``) — and the
    one tenant it belongs to. Its events reach that tenant's triggers only; a row with no
    tenant is an account whose events arrived before anyone claimed it (they reached no one).
    docs/provider-api.md, "Outside accounts"."""

    provider_id = models.CharField(max_length=64)
    account_id = models.CharField(max_length=255)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,  # the tenant's accounts become unclaimed, not anyone's
        related_name="outside_accounts",
    )
    bound_by = models.CharField(
        max_length=200, blank=True, help_text="What bound it to its tenant (a trigger, an admin)."
    )
    bound_at = models.DateTimeField(null=True, blank=True)
    last_unrouted_at = models.DateTimeField(
        null=True, blank=True, help_text="The last event that reached no tenant, being unbound."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider_id", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_id", "account_id"], name="outside_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.account_id}"
