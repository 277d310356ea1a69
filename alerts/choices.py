"""The kinds of channels, the events they can be told about, and a notification's phases."""

from django.db import models


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Webhook (Standard Webhooks)"


class AlertEvent(models.TextChoices):
    """What opens an episode. The first four are about one tenant's objects; the last two
    are about the service itself, the operator's to hear (OPERATOR_EVENTS)."""

    TRIGGER_FAILED = "trigger_failed", "Trigger frozen as failed (and recovered)"
    POLL_STALE = "poll_stale", "Poll gone stale"
    WATCH_STALE = "watch_stale", "Watched folder gone stale"
    EXECUTIONS_WAITING = "executions_waiting", "Executions waiting too long"
    SCHEDULER_LOST = "scheduler_lost", "Scheduler heartbeat lost"
    WATCHER_LOST = "watcher_lost", "Watcher heartbeat lost"


# Service-wide events: an episode of no tenant, told only to the operator's channels (a
# tenant can do nothing about a scheduler that is down; the operator can).
OPERATOR_EVENTS = frozenset({AlertEvent.SCHEDULER_LOST, AlertEvent.WATCHER_LOST})
TENANT_EVENTS = frozenset(AlertEvent) - OPERATOR_EVENTS


class NotificationPhase(models.TextChoices):
    OPENED = "opened", "Opened"
    CLOSED = "closed", "Closed"
    TEST = "test", "Test"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
