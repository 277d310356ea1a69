from django.db import models


class ExecutionType(models.TextChoices):
    """How the execution came about."""

    SCHEDULED = "scheduled", "Scheduled"
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "Manual"
    SLACK = "slack", "Slack"
    POLLING = "polling", "Polling"
    FILE_SYSTEM = "file_system", "File system"


class ExecutionStatus(models.TextChoices):
    """pending -> running -> completed / failed / cancelled (pending may also be cancelled)."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)
