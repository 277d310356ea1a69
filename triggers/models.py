"""The canonical Trigger: one row per trigger, whichever API surface made it."""

import hashlib
import json
import uuid

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.identifiers import PUBLIC_ID_MAX_LENGTH, validate_public_id
from accounts.models import OutsideAccount
from triggers import catalog, config_keys, schedule, templating
from triggers.choices import (
    Delivery,
    ListenerType,
    MisfirePolicy,
    OverlapPolicy,
    TriggerOrigin,
    TriggerStatus,
)
from triggers.signals import trigger_validating


def config_hash(trigger_id: str, config: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of ``{"trigger_id", "config"}``: keys sorted, no
    whitespace, UTF-8 (not escaped). Stable across processes and releases; the agent API
    shows it as ``config_hash`` (docs/agent-api.md has a test vector)."""
    canonical = json.dumps(
        {"trigger_id": trigger_id, "config": config},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_trigger_column(name: str) -> bool:
    """Is ``name`` a field of Trigger (not one of a delivery kind's own table)?"""
    try:
        Trigger._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


_OPTIONAL_LINKS = (
    "project", "agent", "created_by", "updated_by", "run_as_user", "connection", "paused_by",
)  # fmt: skip

# A pause's note is a sentence or two for the people who look at the trigger, not a log.
PAUSE_NOTE_MAX_LENGTH = 500


class Trigger(models.Model):
    # -- identity and ownership ---------------------------------------------------------
    # ``id`` (integer) is the frontend API's id; ``uuid`` the agent and provider APIs'
    # instance id; ``public_id`` the management API's string id (client-given, or the uuid).
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    public_id = models.CharField(
        max_length=PUBLIC_ID_MAX_LENGTH, validators=[validate_public_id], blank=True
    )
    # Not indexed alone: every (tenant, …) index below serves the tenant's lookups too.
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="triggers", db_index=False
    )
    project = models.ForeignKey(
        "accounts.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="triggers",
        db_index=False,
    )
    agent = models.ForeignKey(
        "accounts.Agent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="triggers",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # The frontend API's ``space_id``: the client's label, kept and shown, never interpreted.
    space_id = models.CharField(max_length=255, blank=True)
    # Which surface made it: the agent API's PUT replaces only its own (TriggerOrigin).
    origin = models.CharField(
        max_length=16, choices=TriggerOrigin.choices, default=TriggerOrigin.FRONTEND
    )

    # -- type and configuration ---------------------------------------------------------
    provider_id = models.CharField(max_length=64, default="builtin")
    # The catalog's ``trigger_id`` (agent and provider APIs), e.g. "cron", "on_customer_created".
    provider_trigger_id = models.CharField(max_length=128)
    # Type-specific settings the typed columns below do not hold (the provider API's
    # trigger_config).
    config = models.JSONField(default=dict, blank=True)
    # SHA-256 of the effective config; lets the agent API's PUT tell changed triggers apart.
    config_hash = models.CharField(max_length=64, editable=False, blank=True)
    status = models.CharField(
        max_length=16, choices=TriggerStatus.choices, default=TriggerStatus.ACTIVE
    )

    # -- schedule -------------------------------------------------------------------------
    cron_expression = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    misfire_policy = models.CharField(
        max_length=16, choices=MisfirePolicy.choices, default=MisfirePolicy.RUN_ONCE
    )
    # How far back ``run_all`` catches up; older missed slots are skipped (and recorded).
    misfire_window_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(60)]
    )
    overlap_policy = models.CharField(
        max_length=16, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    # At most this many of its executions in flight at once (dispatched, not finished);
    # empty: EXECUTION_TRIGGER_MAX_IN_FLIGHT (docs/scheduling.md, fair dispatch).
    max_concurrency = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )

    # -- what to run ----------------------------------------------------------------------
    listener_type = models.CharField(max_length=16, choices=ListenerType.choices, blank=True)
    agent_model = models.CharField(max_length=200, blank=True)
    system_message = models.TextField(blank=True)
    task_prompt = models.TextField(blank=True)
    custom_task = models.JSONField(null=True, blank=True)

    # The users an invocation runs as (the management API's runAsUserIds / runAsUserId),
    # members of the trigger's tenant; the agent request carries them (docs/runners.md).
    run_as_user_ids = models.JSONField(default=list, blank=True)
    run_as_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    # -- limits ---------------------------------------------------------------------------
    max_executions_per_hour = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    max_executions_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    is_single_execution = models.BooleanField(default=False)
    max_retries = models.PositiveSmallIntegerField(default=3)

    # The provider API's connection: the tenant's credential bound to the trigger's provider
    # (a provider trigger verified by a signing secret has it as its webhook's signing secret too).
    connection = models.ForeignKey(
        "accounts.Credential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="connected_triggers",
        db_index=False,
    )
    # SHA-256 of the trigger's own key for the provider API's deprecated key endpoints; the
    # key is shown once, when the trigger is created.
    key_digest = models.CharField(max_length=64, blank=True, editable=False)

    # -- provider API ------------------------------------------------------------------------
    webhook_data = models.JSONField(null=True, blank=True)

    # -- counters and state -----------------------------------------------------------------
    execution_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Deliveries answered 2xx without an execution: the config's filters did not match.
    filtered_count = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_executed_at = models.DateTimeField(null=True, blank=True)
    last_execution_status = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    # The next cron slot, in UTC; set only while the trigger is active (see the due index).
    next_fire_at = models.DateTimeField(null=True, blank=True)

    # -- a pause: who disabled it, when, why and until when (docs/scheduling.md, "Pause") ----
    # Written only while the trigger is inactive (triggers.services), cleared when it is
    # enabled. ``paused_at``: when it stopped firing (the slots missed since then follow the
    # misfire policy when it resumes by itself at ``paused_until``).
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    pause_note = models.CharField(max_length=PAUSE_NOTE_MAX_LENGTH, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "public_id"], name="trigger_public_id_unique_per_tenant"
            ),
        ]
        indexes = [
            # The lists' default order, with its tie-breaker: a page is an index range.
            models.Index(fields=["tenant", "-created_at", "-id"], name="trigger_tenant_newest"),
            models.Index(fields=["tenant", "last_executed_at"], name="trigger_tenant_last_exec"),
            models.Index(fields=["tenant", "execution_count"], name="trigger_tenant_exec_count"),
            models.Index(fields=["tenant", "status"], name="trigger_tenant_status"),
            models.Index(
                fields=["tenant", "provider_id", "provider_trigger_id"], name="trigger_tenant_type"
            ),
            # The optional links, indexed where set (deleting what they point to finds its
            # triggers) and not for the many rows where they are NULL: each index costs every
            # UPDATE of a trigger that fires (docs/scheduling.md, the herd).
            *(
                models.Index(
                    fields=[link], name=f"trigger_{link}", condition=Q(**{f"{link}__isnull": False})
                )
                for link in _OPTIONAL_LINKS
            ),
            # The scheduler's work queue: only active triggers with a next slot are in it.
            models.Index(
                fields=["next_fire_at"],
                name="trigger_due",
                condition=Q(status="active", next_fire_at__isnull=False),
            ),
            # The pauses that end by themselves: Beat resumes those whose time has come. No
            # active trigger is in it, so firing one costs this index nothing.
            models.Index(
                fields=["paused_until"],
                name="trigger_pause_ends",
                condition=Q(status="inactive", paused_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def trigger_type(self) -> catalog.TriggerType | None:
        return catalog.trigger_type_get(self.provider_id, self.provider_trigger_id)

    @property
    def delivery(self) -> Delivery | None:
        entry = self.trigger_type
        return entry.delivery if entry else None

    @property
    def webhook_url(self) -> str | None:
        # The webhooks app's one-to-one row, read through its reverse accessor (no import).
        endpoint = getattr(self, "webhook_endpoint", None)
        return endpoint.url if endpoint is not None else None

    def pause_summary(self) -> str:
        """ "paused by alice since …, until …: note" while paused (inactive by request), else
        "" (UTC, as stored)."""
        if self.status != TriggerStatus.INACTIVE or self.paused_at is None:
            return ""
        who = self.paused_by.get_username() if self.paused_by_id else "someone"
        text = f"paused by {who} since {self.paused_at:%Y-%m-%d %H:%M}"
        text += f", until {self.paused_until:%Y-%m-%d %H:%M}" if self.paused_until else ""
        return f"{text}: {self.pause_note}" if self.pause_note else text

    def run_as(self) -> list[str]:
        """The ids of the users an invocation runs as: ``run_as_user`` first, then the rest."""
        first = [str(self.run_as_user_id)] if self.run_as_user_id else []
        return first + [str(u) for u in self.run_as_user_ids or [] if str(u) not in first]

    def config_columns(self) -> dict[str, str]:
        """The type's config keys held in typed columns (catalog.TriggerType.config_columns)."""
        entry = self.trigger_type
        return entry.config_columns if entry else {}

    def effective_config(self) -> dict:
        """The type-specific configuration as one dict: ``config``, plus what a typed column
        holds that ``config`` does not name (``schedule``, a ``timezone`` other than UTC,
        ``path``). For a trigger whose config was given whole (the agent API's), it is that
        config."""
        effective = dict(self.config or {})
        for key, column in self.config_columns().items():
            if not is_trigger_column(column):
                continue  # another app's table holds it (a webhook's path), set from the config
            value = getattr(self, column)
            default = self._meta.get_field(column).get_default()
            if key not in effective and value and value != default:
                effective[key] = value
        return effective

    def compute_config_hash(self) -> str:
        return config_hash(self.provider_trigger_id, self.effective_config())

    def outside_account(self) -> tuple[catalog.AccountKey, str] | None:
        """The outside account this provider trigger's config names (a Slack ``team_id``, a
        GitHub ``repository``'s owner, a Stripe ``account_id``) and how its provider names
        one; None when it names none."""
        key = catalog.account_key(self.provider_id)
        if key is None or self.origin != TriggerOrigin.PROVIDER:
            return None
        value = (self.config or {}).get(key.config_key) if isinstance(self.config, dict) else None
        account_id = key.of_config(value) if isinstance(value, str) and value else None
        return (key, account_id) if account_id else None

    def _outside_account_errors(self) -> dict[str, str]:
        # The binding itself is made by triggers.services (a 409 there); this check lets a
        # form (the admin's) show the refusal on the field.
        named = self.outside_account()
        if named is None or self.tenant_id is None:
            return {}
        key, account_id = named
        owner = (
            OutsideAccount.objects.filter(provider_id=self.provider_id, account_id=account_id)
            .exclude(tenant__isnull=True)
            .exclude(tenant_id=self.tenant_id)
            .exists()
        )
        if not owner:
            return {}
        return {
            f"config.{key.config_key}": f"{key.label} '{account_id}' belongs to another tenant."
        }

    def _pause_errors(self) -> dict[str, str]:
        # A note or an until-time belongs to a pause: an active (or stale, failed, completed)
        # trigger has neither; enabling clears them (triggers.services).
        if self.status == TriggerStatus.INACTIVE:
            return {}
        given = {"pause_note": self.pause_note, "paused_until": self.paused_until}
        return {
            name: "Only a paused (inactive) trigger has a pause note or an until-time."
            for name, value in given.items()
            if value
        }

    def clean(self) -> None:
        """Cross-field rules; every surface (API, admin) runs them through full_clean()."""
        errors: dict[str, str] = {}
        entry = self.trigger_type
        if entry is None:
            errors["provider_trigger_id"] = (
                f"Unknown trigger type '{self.provider_id}/{self.provider_trigger_id}'."
            )
        if entry is not None:
            # The type's one config definition, as the surface that made the trigger applies it
            # (the frontend API's client keeps keys of its own in config: docs/api.md).
            surface = catalog.config_surface(self.origin)
            errors.update(
                {key.replace(surface.prefix, "config", 1): message
                 for key, message in entry.config_errors(self.effective_config(), surface).items()}
            )  # fmt: skip
        if entry is not None and self.origin == TriggerOrigin.PROVIDER:
            errors.update(self._outside_account_errors())
        if entry is not None and entry.delivery == Delivery.SCHEDULE:
            try:
                self.cron_expression = schedule.validate_cron_expression(self.cron_expression)
            except ValueError as error:
                errors["cron_expression"] = str(error)
        elif self.cron_expression:
            errors["cron_expression"] = "Only schedule triggers take a cron expression."
        try:
            schedule.validate_timezone(self.timezone)
        except ValueError as error:
            errors["timezone"] = str(error)
        try:  # a prompt that multiplies its input is refused here, not when it runs out of memory
            templating.check_template_size(self.task_prompt, settings.RENDERED_TEXT_MAX_BYTES)
        except ValueError as error:
            errors["task_prompt"] = f"The task prompt {error}."
        # The config keys with a meaning (max_failure_count, a schedule's dates, a webhook's
        # filters); a date is checked against the cron only once both are valid.
        valid_schedule = not {"cron_expression", "timezone"} & errors.keys()
        errors.update(
            config_keys.config_errors(
                self.config,
                entry.delivery if entry else None,
                cron_expression=self.cron_expression if valid_schedule else "",
                timezone_name=self.timezone,
            )
        )
        if self.tenant_id:
            for field in ("project", "agent"):
                related = getattr(self, field)
                if related is not None and related.tenant_id != self.tenant_id:
                    errors[field] = "Belongs to another tenant."
        # Apps above this one check what they own (the webhook settings: webhooks/receivers).
        for _receiver, found in trigger_validating.send(sender=Trigger, trigger=self):
            for field, message in (found or {}).items():
                errors.setdefault(field, message)
        agent, project = self.agent, self.project
        if agent is not None and project is not None and agent.project_id != project.pk:
            errors["agent"] = "The agent belongs to another project."
        errors.update(self._pause_errors())
        if errors:
            raise ValidationError(errors)
