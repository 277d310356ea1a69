"""Channels, episodes and notifications; written only by alerts.services.

A channel says where to tell (an email list, a Slack incoming webhook, a signed webhook) and
which events; a tenant's channel hears that tenant's episodes, the operator's (no tenant)
every tenant's and the service's own. An episode is one stretch of a condition — opened
when it is first seen, closed when it is gone — and each channel is told twice about it at
most: once when it opens, once when it closes (AlertNotification, one row per channel and
phase, saved before the transport is called and updated with its result).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from alerts.choices import (
    OPERATOR_EVENTS,
    AlertEvent,
    ChannelKind,
    NotificationPhase,
    NotificationStatus,
)

MAX_EMAIL_RECIPIENTS = 20


class AlertChannel(models.Model):
    tenant = models.ForeignKey(
        "accounts.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_channels",
        help_text="Empty: the operator's channel, told about every tenant and the service.",
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    events = models.JSONField(default=list, blank=True, help_text="The events it is told about.")
    enabled = models.BooleanField(default=True)
    # An email channel's recipients.
    email_to = models.JSONField(default=list, blank=True)
    # A Slack or webhook channel's URL, Fernet-encrypted (accounts/encryption.py): a Slack
    # incoming webhook's path is its credential, and a generic receiver's often carries one.
    encrypted_url = models.TextField(blank=True, editable=False)
    # What people are shown of it: scheme and host ("https://hooks.slack.com/…").
    url_preview = models.CharField(max_length=300, blank=True, editable=False)
    # A webhook channel's Standard Webhooks secret (whsec_…), Fernet-encrypted; write-only.
    encrypted_secret = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        events = self.events
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            errors["events"] = "A list of event names."
        else:
            unknown = sorted(set(events) - set(AlertEvent.values))
            operator_only = sorted(set(events) & OPERATOR_EVENTS)
            if unknown:
                errors["events"] = f"Unknown events: {', '.join(unknown)}."
            elif operator_only and self.tenant_id is not None:
                errors["events"] = (
                    f"Only the operator's channels hear {', '.join(operator_only)}: they are "
                    "about the service, not a tenant's triggers."
                )
            elif len(set(events)) != len(events):
                errors["events"] = "An event is named twice."
        if self.kind == ChannelKind.EMAIL:
            if not self.email_to:
                errors["email_to"] = "An email channel needs at least one address."
            elif len(self.email_to) > MAX_EMAIL_RECIPIENTS:
                errors["email_to"] = f"At most {MAX_EMAIL_RECIPIENTS} addresses."
        elif self.kind in (ChannelKind.SLACK, ChannelKind.WEBHOOK) and not self.encrypted_url:
            errors["url"] = f"A {self.kind} channel needs a URL."
        if self.kind == ChannelKind.WEBHOOK and not self.encrypted_secret:
            errors["secret"] = "A webhook channel needs a signing secret."
        if errors:
            raise ValidationError(errors)


class AlertEpisode(models.Model):
    """One stretch of a condition about one subject: open while ``closed_at`` is null."""

    tenant = models.ForeignKey(
        "accounts.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: an episode of the service itself (its scheduler, its watcher).",
    )
    event = models.CharField(max_length=32, choices=AlertEvent.choices)
    # What it is about, unique across tenants: "trigger:42", "tenant:acme", "service:scheduler".
    subject = models.CharField(max_length=200)
    subject_label = models.CharField(max_length=300)
    # The subject's page in the admin, below PUBLIC_BASE_URL.
    admin_path = models.CharField(max_length=500)
    summary = models.TextField()
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    close_summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open episode per event and subject: the database decides between two
            # passes that see the same condition at once.
            models.UniqueConstraint(
                fields=["event", "subject"],
                condition=Q(closed_at__isnull=True),
                name="alert_episode_open_once",
            )
        ]
        indexes = [
            # The frontend API's list: a tenant's episodes, newest first (closed ones pile up).
            models.Index(
                fields=["tenant", "-opened_at", "-id"], name="alert_episode_tenant_newest"
            ),
            # The dashboard's open alerts and ?open=true: a tenant's open ones, newest first,
            # without reading its closed ones.
            models.Index(
                fields=["tenant", "-opened_at", "-id"],
                name="alert_episode_open_newest",
                condition=Q(closed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.subject_label}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AlertNotification(models.Model):
    """One message to one channel: an episode's opening or closing, or a channel's test."""

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="+")
    episode = models.ForeignKey(
        AlertEpisode,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Empty: a test of the channel.",
    )
    phase = models.CharField(max_length=16, choices=NotificationPhase.choices)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # A pending one's next send; one long past it lost its message (the pass sends it again).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While a worker sends it, no other may (a second message of the same notification).
    sending_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Each channel hears of an episode's opening once, and of its closing once.
            models.UniqueConstraint(
                fields=["episode", "channel", "phase"], name="alert_notification_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="alert_notification_pending",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_phase_display()} → {self.channel}"
