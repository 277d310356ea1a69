"""Every change to an execution, in one place: firing, the lifecycle, the sweeper.

The lifecycle is pending -> running -> completed / failed / cancelled (a retry goes from
running back to pending). Each transition is a conditional UPDATE that only succeeds
from the expected state, so a late or duplicated message, a cancel racing a finish, or a
sweeper racing a slow worker can never move an execution twice.
"""

import logging
import os
import socket
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, close_old_connections, transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from executions import dispatch, policies
from executions.choices import ExecutionStatus, ExecutionType
from executions.inserts import insert_execution
from executions.models import Execution
from executions.runners import AttemptAbandoned, RunnerError, run_agent
from triggers.choices import OverlapPolicy, TriggerStatus
from triggers.models import Trigger
from triggers.services import trigger_record_outcome

logger = logging.getLogger(__name__)


# -- firing --------------------------------------------------------------------------------


class FiringRefused(Exception):
    """The trigger may not fire now; ``reason`` says why (inactive, over a limit, …)."""

    def __init__(self, reason: str, *, retry_after_seconds: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Firing:
    execution: Execution
    created: bool  # False: an earlier delivery with the same idempotency key made it


def counted_executions(trigger_id: int) -> QuerySet[Execution]:
    """The executions that count toward limits and single-execution: not manual runs,
    not firings that were cancelled or never ran."""
    return (
        Execution.objects.filter(trigger_id=trigger_id)
        .exclude(execution_type=ExecutionType.MANUAL)
        .exclude(status=ExecutionStatus.CANCELLED)
    )


def firing_limit_verdict(trigger: Trigger, *, now: datetime) -> policies.LimitVerdict:
    """The per-hour/per-day verdict; the caller holds the trigger's row lock."""
    if not (trigger.max_executions_per_hour or trigger.max_executions_per_day):
        return policies.LimitVerdict(True)
    recent = counted_executions(trigger.pk)
    day = recent.filter(created_at__gt=now - timedelta(days=1)).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    hour = recent.filter(created_at__gt=now - timedelta(hours=1)).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    return policies.limit_verdict(
        max_per_hour=trigger.max_executions_per_hour,
        max_per_day=trigger.max_executions_per_day,
        hour_count=hour["count"],
        oldest_in_hour=hour["oldest"],
        day_count=day["count"],
        oldest_in_day=day["oldest"],
        now=now,
    )


def needs_lock(trigger: Trigger) -> bool:
    """Limits and single-execution are checked under the trigger's row lock, so two
    concurrent firings cannot both take the last slot; other triggers skip the lock."""
    return bool(
        trigger.max_executions_per_hour
        or trigger.max_executions_per_day
        or trigger.is_single_execution
    )


def execution_fire(
    *,
    trigger: Trigger,
    execution_type: str,
    input_data=None,
    request_payload=None,
    idempotency_key: str | None = None,
) -> Firing:
    """One event firing of an active trigger (webhook, Slack event, poll, file …).

    Stored (committed), then enqueued. A repeated ``idempotency_key`` returns the first
    execution and creates nothing, also when the repeats arrive at once: the unique
    constraint decides, so the common case costs one INSERT and no lookup. Raises
    FiringRefused when the trigger is not active, over a limit, or a single-execution
    trigger that has fired; those checks run under the trigger's row lock, so concurrent
    firings cannot both take the last slot. A trigger without limits needs no lock and no
    transaction: its firing is a single autocommitted INSERT (the webhook hot path).
    """
    fields = _firing_fields(trigger, execution_type, input_data, request_payload, idempotency_key)
    if not needs_lock(trigger):
        _refuse_unless_active(trigger)
        firing = _insert_once(fields)
    else:
        with transaction.atomic():
            trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
            _refuse_unless_active(trigger)
            if idempotency_key is not None:
                earlier = _by_idempotency_key(trigger.pk, idempotency_key)
                if earlier is not None:
                    return Firing(earlier, created=False)
            verdict = firing_limit_verdict(trigger, now=timezone.now())
            if not verdict.allowed:
                raise FiringRefused(verdict.reason, retry_after_seconds=verdict.retry_after_seconds)
            if trigger.is_single_execution and counted_executions(trigger.pk).exists():
                raise FiringRefused("This single-execution trigger has already fired.")
            firing = _insert_once(fields)
            if firing.created and trigger.is_single_execution:
                Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=None)
    if firing.created:
        dispatch.enqueue_on_commit([firing.execution.execution_id], batched=True)
    return firing


def execution_fire_if(
    *,
    trigger: Trigger,
    condition: tuple[str, list],
    execution_type: str,
    input_data=None,
    request_payload=None,
    idempotency_key: str | None = None,
) -> Firing | None:
    """``execution_fire`` in one statement, for a trigger the caller read earlier.

    The execution is stored only if ``condition`` (SQL over the trigger's row, with its
    parameters) holds when the INSERT runs; the caller's condition must say "still active,
    still without limits, still as I read it". None when it does not hold: nothing was
    stored, and the caller must read the trigger again and use ``execution_fire``.
    """
    if needs_lock(trigger):
        raise ValueError("A trigger with limits fires through execution_fire (row lock).")
    fields = _firing_fields(trigger, execution_type, input_data, request_payload, idempotency_key)
    firing = _insert_once(fields, only_if=condition)
    if firing is not None and firing.created:
        dispatch.enqueue_on_commit([firing.execution.execution_id], batched=True)
    return firing


def _firing_fields(trigger, execution_type, input_data, request_payload, idempotency_key) -> dict:
    return {
        "tenant_id": trigger.tenant_id,
        "trigger_id": trigger.pk,
        "execution_type": execution_type,
        "input_data": input_data,
        "request_payload": request_payload,
        "idempotency_key": idempotency_key,
        "max_retries": trigger.max_retries,
    }


def _refuse_unless_active(trigger: Trigger) -> None:
    if trigger.status != TriggerStatus.ACTIVE:
        raise FiringRefused(f"The trigger is {trigger.get_status_display().lower()}.")


def _insert_once(fields: dict, *, only_if: tuple[str, list] | None = None) -> Firing | None:
    """INSERT the execution; on an idempotency-key conflict, the one that is there.

    None only when ``only_if`` did not hold. A conflict means it held: the SELECT that
    checks it runs before the row meets the unique constraint.
    """
    # Inside a transaction, a savepoint: the conflict must not poison the outer one.
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            execution = insert_execution(fields, only_if=only_if)
    except IntegrityError:
        key = fields["idempotency_key"]
        earlier = _by_idempotency_key(fields["trigger_id"], key) if key is not None else None
        if earlier is None:
            raise
        return Firing(earlier, created=False)
    return None if execution is None else Firing(execution, created=True)


def _by_idempotency_key(trigger_id: int, key: str) -> Execution | None:
    return Execution.objects.filter(trigger_id=trigger_id, idempotency_key=key).first()


@transaction.atomic
def execution_create_manual(
    *, trigger: Trigger, requested_by: AbstractBaseUser | None = None
) -> Execution:
    """A manual execution ("run now" / "test"), enqueued for a worker once committed.

    Testing is allowed whatever the trigger's status, so a trigger can be tried before
    it is switched on; limits and single-execution do not apply to a manual run.
    """
    execution = Execution.objects.create(
        tenant_id=trigger.tenant_id,
        trigger=trigger,
        execution_type=ExecutionType.MANUAL,
        input_data={"test": True, "requested_by": getattr(requested_by, "username", None)},
        max_retries=trigger.max_retries,
    )
    dispatch.enqueue_on_commit([execution.execution_id])
    return execution


# -- the lifecycle -------------------------------------------------------------------------


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execution_start(*, execution_id: uuid.UUID | str, worker_id: str) -> Execution | None:
    """pending -> running; None when it is not pending, not due yet, or must wait.

    A ``buffer_one`` scheduled execution waits while another execution of its trigger
    runs; that one's finish enqueues it again.
    """
    now = timezone.now()
    with transaction.atomic():
        execution = (
            Execution.objects.select_for_update(of=("self",))
            .select_related("trigger", "trigger__agent", "trigger__project")
            .filter(execution_id=execution_id, status=ExecutionStatus.PENDING)
            .first()
        )
        if execution is None:
            return None
        if execution.available_at > now:  # an early message (a retry's backoff not over)
            dispatch.enqueue_on_commit([execution.execution_id], eta=execution.available_at)
            return None
        trigger = execution.trigger
        if (
            trigger.overlap_policy == OverlapPolicy.BUFFER_ONE
            and execution.execution_type == ExecutionType.SCHEDULED
        ):
            Trigger.objects.select_for_update().filter(pk=trigger.pk).first()
            busy = Execution.objects.filter(trigger=trigger, status=ExecutionStatus.RUNNING)
            if busy.exists():
                return None
        execution.status = ExecutionStatus.RUNNING
        execution.started_at = now
        execution.completed_at = None
        execution.worker_id = worker_id[:255]
        execution.save(
            update_fields=["status", "started_at", "completed_at", "worker_id", "updated_at"]
        )
    return execution


def execution_run(
    *, execution_id: uuid.UUID | str, worker_id: str | None = None
) -> Execution | None:
    """Start, run through the agent's runner, and finish one execution (the worker's job)."""
    execution = execution_start(execution_id=execution_id, worker_id=worker_id or worker_identity())
    if execution is None:
        return None
    try:
        result = run_agent(execution, abandoned=lambda: _attempt_abandoned(execution))
    except AttemptAbandoned:
        # Cancelled, or taken back by the sweeper, while the agent worked: whoever did so
        # has already written the execution's state; this attempt leaves it as it is.
        logger.info("Execution %s: attempt interrupted, no longer wanted", execution.execution_id)
        return Execution.objects.get(pk=execution.pk)
    except RunnerError as error:
        return execution_attempt_failed(execution=execution, error_message=str(error))
    except Exception as error:  # a bug or an unexpected reply must still end the attempt
        logger.exception("Runner crashed on execution %s", execution.execution_id)
        return execution_attempt_failed(
            execution=execution, error_message=f"{type(error).__name__}: {error}"
        )
    return execution_complete(
        execution=execution,
        output_data=result.output_data,
        tokens_used=result.tokens_used,
        tools_executed=result.tools_executed,
        conversation_id=result.conversation_id,
    )


def _attempt_abandoned(execution: Execution) -> bool:
    """Asked while the runner waits: was this attempt cancelled or taken back meanwhile?

    A database error answers no: the agent's work goes on, and the attempt's end meets the
    database as it would have without this check. A broken connection is dropped so that
    the next check, and that end, connect anew.
    """
    try:
        return not _running_attempt(execution).exists()
    except DatabaseError:
        logger.warning("Execution %s: cannot check for a cancel", execution.execution_id)
        close_old_connections()
        return False


def _running_attempt(execution: Execution) -> QuerySet[Execution]:
    """This very attempt, still running: not cancelled, not taken back by the sweeper."""
    return Execution.objects.filter(
        pk=execution.pk, status=ExecutionStatus.RUNNING, retry_count=execution.retry_count
    )


def execution_complete(
    *,
    execution: Execution,
    output_data=None,
    tokens_used: int | None = None,
    tools_executed=None,
    conversation_id: str = "",
) -> Execution | None:
    """running -> completed; None when the attempt was cancelled or timed out meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        updated = _running_attempt(execution).update(
            status=ExecutionStatus.COMPLETED,
            output_data=output_data,
            tokens_used=tokens_used,
            tools_executed=tools_executed,
            conversation_id=(conversation_id or "")[:255],
            error_message="",
            completed_at=now,
            updated_at=now,
        )
        if not updated:
            return None
        _after_finish(execution, succeeded=True, finished_at=now)
    return Execution.objects.get(pk=execution.pk)


def execution_attempt_failed(*, execution: Execution, error_message: str) -> Execution | None:
    """An attempt failed: back to pending after a backoff while retries remain, else failed."""
    now = timezone.now()
    with transaction.atomic():
        current = _running_attempt(execution).select_for_update().first()
        if current is None:
            return None
        if current.retry_count < current.max_retries:
            delay = policies.retry_delay_seconds(
                current.retry_count,
                base=settings.EXECUTION_RETRY_BASE_SECONDS,
                cap=settings.EXECUTION_RETRY_MAX_SECONDS,
            )
            current.status = ExecutionStatus.PENDING
            current.retry_count += 1
            current.available_at = now + timedelta(seconds=delay)
            current.error_message = error_message
            current.started_at = None
            current.worker_id = ""
            current.save()
            dispatch.enqueue_on_commit([current.execution_id], eta=current.available_at)
            return current
        current.status = ExecutionStatus.FAILED
        current.error_message = error_message
        current.completed_at = now
        current.save()
        _after_finish(current, succeeded=False, finished_at=now, error_message=error_message)
    return current


def execution_cancel(
    *, execution: Execution, cancelled_by: AbstractBaseUser | None = None
) -> Execution:
    """pending/running -> cancelled. A running attempt's request to its agent is interrupted
    within EXECUTION_CANCEL_CHECK_SECONDS (execution_run); a result that still comes in is
    discarded.

    Raises ValidationError when the execution has already finished.
    """
    now = timezone.now()
    who = getattr(cancelled_by, "username", None)
    updated = Execution.objects.filter(
        pk=execution.pk, status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING]
    ).update(
        status=ExecutionStatus.CANCELLED,
        error_message=f"Cancelled by {who}." if who else "Cancelled.",
        completed_at=now,
        updated_at=now,
    )
    execution.refresh_from_db()
    if not updated:
        raise ValidationError(
            {
                "status": f"The execution is {execution.status}; "
                "only pending or running ones can be cancelled."
            }
        )
    return execution


def _after_finish(
    execution: Execution, *, succeeded: bool, finished_at: datetime, error_message: str = ""
) -> None:
    trigger = execution.trigger
    trigger_record_outcome(
        trigger_id=trigger.pk,
        succeeded=succeeded,
        finished_at=finished_at,
        error_message=error_message,
        completes_single_execution=(
            trigger.is_single_execution and execution.execution_type != ExecutionType.MANUAL
        ),
    )
    if trigger.overlap_policy == OverlapPolicy.BUFFER_ONE:
        waiting = (
            Execution.objects.filter(
                trigger_id=trigger.pk,
                status=ExecutionStatus.PENDING,
                execution_type=ExecutionType.SCHEDULED,
            )
            .order_by("available_at")
            .values_list("execution_id", flat=True)[:1]
        )
        dispatch.enqueue_on_commit(list(waiting))


# -- the sweeper ---------------------------------------------------------------------------


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
