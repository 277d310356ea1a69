from django.db import models


class TriggerStatus(models.TextChoices):
    """The one state machine; each API surface maps it in its serializer (docs/architecture.md)."""

    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    # Can no longer fire as configured: its agent or credential is gone, its one-time date
    # passed without a run, its expirationDate passed.
    STALE = "stale", "Stale"
    # A single-execution trigger, or a one-time schedule (config.date), that has run.
    COMPLETED = "completed", "Completed"
    # Frozen after N consecutive failed executions, until enabled again.
    FAILED = "failed", "Failed"


class TriggerOrigin(models.TextChoices):
    """The API surface (or the admin) that created a trigger. The agent API's replace-all PUT
    manages only the triggers it made, so it never deletes one another surface created."""

    FRONTEND = "frontend", "Frontend API"
    AGENT = "agent", "Agent API"
    MANAGEMENT = "management", "Management API"
    PROVIDER = "provider", "Provider API"
    ADMIN = "admin", "Admin"


class ListenerType(models.TextChoices):
    WORKFORCE = "workforce", "Workforce"
    CHAT_AGENT = "chat_agent", "Chat agent"


class Delivery(models.TextChoices):
    """How a catalog trigger type learns it should fire."""

    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    EVENT = "event", "Event (Slack)"
    POLLING = "polling", "Polling"
    FILE_SYSTEM = "file_system", "File system"


class MisfirePolicy(models.TextChoices):
    """What to do with cron slots missed while the service was down (docs/scheduling.md)."""

    SKIP = "skip", "Skip missed slots"
    RUN_ONCE = "run_once", "Run once for the missed slots"
    RUN_ALL = "run_all", "Run every missed slot within the window"


class OverlapPolicy(models.TextChoices):
    """What a cron slot does while an earlier execution of the trigger is unfinished."""

    SKIP = "skip", "Skip the slot"
    ALLOW = "allow", "Run alongside"
    BUFFER_ONE = "buffer_one", "Queue one, run it after"


class WebhookMethod(models.TextChoices):
    """The HTTP method a webhook trigger's URL accepts (the frontend API's ``webhook_method``);
    HEAD and OPTIONS are not deliveries."""

    GET = "GET", "GET"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"
