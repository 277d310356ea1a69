"""The frontend API's enums and how they map onto the canonical model: one table per enum."""

from django.db import models
from django.db.models import Q

from triggers import catalog
from triggers.choices import TriggerStatus


class FrontendTriggerStatus(models.IntegerChoices):
    INACTIVE = 0, "Inactive"
    ACTIVE = 1, "Active"
    STALE = 2, "Stale"
    COMPLETED = 3, "Completed"


class FrontendTriggerType(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    SLACK_TRIGGER = "slack_trigger", "Slack trigger"


STATUS_TO_FRONTEND: dict[str, int] = {
    TriggerStatus.ACTIVE: FrontendTriggerStatus.ACTIVE,
    TriggerStatus.INACTIVE: FrontendTriggerStatus.INACTIVE,
    TriggerStatus.STALE: FrontendTriggerStatus.STALE,
    TriggerStatus.COMPLETED: FrontendTriggerStatus.COMPLETED,
    # The frontend API has no "failed": a frozen trigger shows as Inactive (with its error_message).
    TriggerStatus.FAILED: FrontendTriggerStatus.INACTIVE,
}
FRONTEND_TO_STATUSES: dict[int, list[str]] = {
    value: [status for status, shown in STATUS_TO_FRONTEND.items() if shown == value]
    for value in FrontendTriggerStatus.values
}

TYPE_TO_CATALOG: dict[str, catalog.TriggerType] = {
    FrontendTriggerType.SCHEDULE: catalog.CRON,
    FrontendTriggerType.WEBHOOK: catalog.WEBHOOK,
    FrontendTriggerType.SLACK_TRIGGER: catalog.SLACK_EVENT,
}
CATALOG_TO_TYPE: dict[tuple[str, str], str] = {
    entry.key: frontend_type for frontend_type, entry in TYPE_TO_CATALOG.items()
}


def frontend_types_q() -> Q:
    """Triggers the frontend API shows: types outside its enum (file_system, …) are left out."""
    q = Q(pk__in=[])
    for entry in TYPE_TO_CATALOG.values():
        q |= Q(provider_id=entry.provider_id, provider_trigger_id=entry.trigger_id)
    return q
