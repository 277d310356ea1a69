"""The frontend API's execution status enum and its one mapping table."""

from django.db import models

from executions.choices import ExecutionStatus


class FrontendExecutionStatus(models.IntegerChoices):
    PENDING = 0, "Pending"
    RUNNING = 1, "Running"
    COMPLETED = 2, "Completed"
    FAILED = 3, "Failed"
    CANCELLED = 4, "Cancelled"


STATUS_TO_FRONTEND: dict[str, int] = {
    ExecutionStatus.PENDING: FrontendExecutionStatus.PENDING,
    ExecutionStatus.RUNNING: FrontendExecutionStatus.RUNNING,
    ExecutionStatus.COMPLETED: FrontendExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED: FrontendExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED: FrontendExecutionStatus.CANCELLED,
}
FRONTEND_TO_STATUS: dict[int, str] = {shown: status for status, shown in STATUS_TO_FRONTEND.items()}
