"""The sweeper: nothing is lost, whatever happened to the broker or a worker.

Beat runs it every EXECUTION_SWEEP_INTERVAL_SECONDS on the control queue (docs/scheduling.md).
Executions waiting in the database are the dispatcher's (executions/dispatch.py); the sweeper
looks only at those whose run message was published, and re-publishes one only when it is
truly lost, never merely waiting behind busy workers: the run queue is first in, first out,
so a message is lost when the workers have already started one published after it, or when
the run queue is empty and it still has not started.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from executions import broker, dispatch, selectors
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.services.lifecycle import execution_attempt_failed

logger = logging.getLogger(__name__)

# Messages published this close together may reach the queue in either order.
_PUBLISH_ORDER_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class SweepReport:
    requeued: int
    timed_out: int
    dispatched: int = 0


def executions_sweep(*, now: datetime | None = None, batch_size: int = 1000) -> SweepReport:
    """Nothing is lost: re-publish dispatched executions whose message was lost, end running
    ones whose worker died (retry or fail), then run a dispatch pass."""
    now = now or timezone.now()
    requeued = _republish_lost(now, batch_size)
    timeout = settings.EXECUTION_TIMEOUT_SECONDS
    cutoff = now - timedelta(seconds=timeout)
    # Timed out from the later of its start and its runtime's last heartbeat (an attempt
    # awaiting an asynchronous result: docs/runners.md).
    lost = Execution.objects.filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lte=cutoff),
        status=ExecutionStatus.RUNNING,
        started_at__lte=cutoff,
    )[:batch_size]
    message = f"No result within {timeout} s: the worker was lost or the run hung."
    awaited = f"No result or heartbeat from the agent runtime within {timeout} s."
    timed_out = 0
    for execution in lost:
        reason = awaited if execution.awaiting_result_since else message
        if execution_attempt_failed(execution=execution, error_message=reason) is not None:
            timed_out += 1
    return SweepReport(
        requeued=requeued, timed_out=timed_out, dispatched=dispatch.dispatch_waiting()
    )


def lost_executions(*, now: datetime, batch_size: int = 1000) -> list:
    """The ids of dispatched, unstarted executions whose run message is lost: published at
    least EXECUTION_REQUEUE_AFTER_SECONDS ago, and either a running execution of the same
    queue was published after it (the workers have passed it) or its queue is empty (none
    will reach it). Agent runs and instant runs have queues of their own
    (executions/dispatch.py), each first in, first out."""
    old = now - timedelta(seconds=settings.EXECUTION_REQUEUE_AFTER_SECONDS)
    lost: list = []
    for queue, of_queue in (
        (None, selectors.instant_runs),
        (settings.CELERY_AGENT_QUEUE, selectors.agent_runs),
    ):
        executions = of_queue(Execution.objects.all())
        unstarted = executions.filter(
            status=ExecutionStatus.PENDING, dispatched_at__isnull=False, dispatched_at__lte=old
        )
        queued = broker.run_queue_length(queue)  # None: the broker cannot tell
        newest_started = executions.filter(
            status=ExecutionStatus.RUNNING, dispatched_at__isnull=False
        ).aggregate(newest=Max("dispatched_at"))["newest"]
        if queued == 0 or (queued is None and newest_started is None):
            cutoff = old
        elif newest_started is None:
            continue  # messages wait in the queue and no worker is taking any: workers away
        else:
            cutoff = min(old, newest_started - _PUBLISH_ORDER_SLACK)
        lost += (
            unstarted.filter(dispatched_at__lte=cutoff)
            .order_by("dispatched_at")
            .values_list("execution_id", flat=True)[: batch_size - len(lost)]
        )
    return lost


def _republish_lost(now: datetime, batch_size: int) -> int:
    lost = lost_executions(now=now, batch_size=batch_size)
    if not lost:
        return 0
    # Published again now: it is not counted as lost again before another full interval.
    Execution.objects.filter(execution_id__in=lost, status=ExecutionStatus.PENDING).update(
        dispatched_at=now
    )
    logger.warning("Sweeper: %d run messages were lost; publishing them again", len(lost))
    return dispatch.enqueue(lost, agent_runs=dispatch.agent_run_ids(lost))
