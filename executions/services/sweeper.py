"""The sweeper: nothing is lost, whatever happened to the broker or a worker.

Beat runs it every EXECUTION_SWEEP_INTERVAL_SECONDS (docs/scheduling.md).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from executions import dispatch
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.services.lifecycle import execution_attempt_failed


@dataclass(frozen=True)
class SweepReport:
    requeued: int
    timed_out: int


def executions_sweep(*, now: datetime | None = None, batch_size: int = 1000) -> SweepReport:
    """Nothing is lost: re-enqueue pending executions no worker took (the broker was down,
    a message was dropped) and end running ones whose worker died (retry or fail)."""
    now = now or timezone.now()
    stuck = list(
        Execution.objects.filter(
            status=ExecutionStatus.PENDING,
            available_at__lte=now - timedelta(seconds=settings.EXECUTION_REQUEUE_AFTER_SECONDS),
        )
        .order_by("available_at")
        .values_list("execution_id", flat=True)[:batch_size]
    )
    requeued = dispatch.enqueue(stuck) if stuck else 0
    timeout = settings.EXECUTION_TIMEOUT_SECONDS
    lost = Execution.objects.filter(
        status=ExecutionStatus.RUNNING, started_at__lte=now - timedelta(seconds=timeout)
    ).select_related("trigger")[:batch_size]
    timed_out = 0
    for execution in lost:
        message = f"No result within {timeout} s: the worker was lost or the run hung."
        if execution_attempt_failed(execution=execution, error_message=message) is not None:
            timed_out += 1
    return SweepReport(requeued=requeued, timed_out=timed_out)
