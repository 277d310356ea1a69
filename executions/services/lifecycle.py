"""The lifecycle of an execution: pending -> running -> completed / failed / cancelled.

A retry goes from running back to pending. Each transition is a conditional UPDATE that
only succeeds from the expected state, so a late or duplicated message, a cancel racing a
finish, or a sweeper racing a slow worker can never move an execution twice. A finished
execution is counted on its trigger, which the firing rules may then freeze or complete
(executions/policies.py).
"""

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, close_old_connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from api.storable import storable_text
from executions import dispatch, policies
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.runners import AttemptAbandoned, RunnerError, run_agent
from triggers import services as trigger_services
from triggers.choices import OverlapPolicy
from triggers.models import Trigger

logger = logging.getLogger(__name__)


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
        if policies.start_waits_for_running(trigger.overlap_policy, execution.execution_type):
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
        return execution_attempt_failed(
            execution=execution, error_message=str(error), retry=error.retryable
        )
    except Exception as error:  # a bug or an unexpected reply must still end the attempt
        logger.exception("Runner crashed on execution %s", execution.execution_id)
        return execution_attempt_failed(
            execution=execution, error_message=f"{type(error).__name__}: {error}"
        )
    return _store_result(execution, result)


# Storing a result that failed for a reason other than the value itself (the connection
# dropped) is tried this often, this long apart, before the execution fails with the reason.
STORE_RESULT_TRIES = 3
STORE_RESULT_PAUSE_SECONDS = 0.5


def _store_result(execution: Execution, result) -> Execution | None:
    """``execution_complete`` with the runner's result, or — when the database will not take
    it — the execution failed with the reason, at once for a value it refuses (DataError:
    the same value would be refused again) and after STORE_RESULT_TRIES otherwise; never
    left running for the sweeper to retry into the same error."""
    for attempt in range(1, STORE_RESULT_TRIES + 1):
        try:
            return execution_complete(
                execution=execution,
                output_data=result.output_data,
                tokens_used=result.tokens_used,
                tools_executed=result.tools_executed,
                conversation_id=result.conversation_id,
            )
        except DatabaseError as error:
            logger.warning(
                "Execution %s: storing the result failed (try %d of %d): %s",
                execution.execution_id, attempt, STORE_RESULT_TRIES, error,
            )  # fmt: skip
            reason = f"The agent's result could not be stored: {type(error).__name__}: {error}"
            if isinstance(error, DataError):
                break  # the value, not the connection: its transaction rolled back cleanly
            close_old_connections()  # a broken connection is replaced on the next query
            if attempt == STORE_RESULT_TRIES:
                break
            time.sleep(STORE_RESULT_PAUSE_SECONDS * attempt)
    try:
        return execution_attempt_failed(execution=execution, error_message=reason, retry=False)
    except DatabaseError:  # the database is gone: the sweeper's timeout ends the attempt
        logger.exception("Execution %s: the failure could not be stored", execution.execution_id)
        return None


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


def execution_attempt_failed(
    *, execution: Execution, error_message: str, retry: bool = True
) -> Execution | None:
    """An attempt failed: back to pending after a backoff while retries remain, else failed.
    ``retry=False``: failed at once (another attempt would fail the same way)."""
    now = timezone.now()
    error_message = storable_text(error_message)  # it may quote an agent's answer
    with transaction.atomic():
        current = _running_attempt(execution).select_for_update().first()
        if current is None:
            return None
        if retry and current.retry_count < current.max_retries:
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
    """Count the finished execution on its trigger, then let the rules freeze or complete
    it; a ``buffer_one`` slot waiting behind this execution is enqueued."""
    trigger = execution.trigger
    streak = trigger_services.trigger_record_outcome(
        trigger_id=trigger.pk, succeeded=succeeded, finished_at=finished_at
    )
    counted = not execution.is_test
    if policies.completes_trigger(
        is_single_execution=trigger.is_single_execution,
        counted=counted,
        one_time_run=policies.is_one_time_run(trigger, execution.execution_type),
    ):
        trigger_services.trigger_complete(trigger_id=trigger.pk, at=finished_at)
    elif not succeeded:
        threshold = policies.failure_threshold(trigger, default=settings.TRIGGER_FAILURE_THRESHOLD)
        if policies.freezes_after_failure(consecutive_failures=streak, threshold=threshold):
            reason = policies.freeze_reason(threshold=threshold, last_error=error_message)
            trigger_services.trigger_freeze(trigger_id=trigger.pk, reason=reason, at=finished_at)
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
