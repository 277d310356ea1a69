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
from contextlib import nullcontext
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, close_old_connections, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from api.storable import storable_text
from executions import dispatch, log_context, metrics, policies
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.runners import (
    AgentResult,
    AttemptAbandoned,
    ResultDeferred,
    RunnerError,
    run_agent,
    runner_name_for,
)
from executions.services import claims
from executions.services.attempt_watch import AttemptWatch
from triggers import services as trigger_services
from triggers.models import Trigger

logger = logging.getLogger(__name__)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execution_start(*, execution_id: uuid.UUID | str, worker_id: str) -> Execution | None:
    """pending -> running; None when it is not pending, not due yet, or must wait."""
    started = executions_start(execution_ids=[execution_id], worker_id=worker_id)
    return started[0] if started else None


def executions_start(*, execution_ids: list, worker_id: str) -> list[Execution]:
    """pending -> running for each of a run message's executions that may start now; returns
    those started, in the message's order, with their trigger, agent and project loaded.

    The common case is one statement for them all (executions/services/claims.py). A
    ``buffer_one`` scheduled execution waits while another execution of its trigger runs;
    that one's finish dispatches it again. An execution that may not start now goes back to
    waiting in the database (``dispatched_at`` emptied) for a later dispatch pass.
    """
    now = timezone.now()
    worker_id = worker_id[:255]
    started: dict[str, Execution] = {}
    if connection.vendor == "postgresql":  # one statement needs UPDATE inside WITH: not SQLite
        for execution in claims.start_many(execution_ids, worker_id, now):
            started[str(execution.execution_id)] = execution
    for execution_id in execution_ids:
        key = str(execution_id)
        if key not in started:
            execution = _start_one(execution_id, worker_id, now)
            if execution is not None:
                started[key] = execution
    in_order = [started[str(i)] for i in execution_ids if str(i) in started]
    for execution in in_order:
        _started(execution, now)
    return in_order


def _start_one(execution_id, worker_id: str, now: datetime) -> Execution | None:
    """An execution the common start did not take: start it, or say why not (None)."""
    execution = (
        Execution.objects.select_related("trigger", "trigger__agent", "trigger__project")
        .filter(execution_id=execution_id, status=ExecutionStatus.PENDING)
        .first()
    )
    if execution is None:
        return None
    if execution.available_at > now:  # an early message (a retry's backoff not over)
        return _back_to_waiting(execution)
    if policies.start_waits_for_running(
        execution.trigger.overlap_policy, execution.execution_type, execution.is_backfill
    ):
        with transaction.atomic():  # under the trigger's lock: one buffered slot starts
            Trigger.objects.select_for_update().filter(pk=execution.trigger_id).first()
            busy = Execution.objects.filter(
                trigger_id=execution.trigger_id, status=ExecutionStatus.RUNNING
            )
            if busy.exists():
                return _back_to_waiting(execution)
            started = _claim_start(execution.pk, worker_id, now)
    else:
        started = _claim_start(execution.pk, worker_id, now)
    if not started:  # cancelled, or started by a duplicate message, since it was read
        return None
    execution.status = ExecutionStatus.RUNNING
    execution.started_at = now
    execution.completed_at = None
    execution.worker_id = worker_id
    execution.dispatched_at = execution.dispatched_at or now
    execution.updated_at = now
    return execution


def _started(execution: Execution, now: datetime) -> None:
    metrics.execution_started(
        execution.execution_type,
        queue_wait_seconds=(now - execution.available_at).total_seconds(),
    )
    notes = ["backfill"] if execution.is_backfill else []
    if execution.retry_count:
        notes.append(f"attempt {execution.retry_count + 1}")
    logger.info(
        "Execution %s started: %s run of trigger #%d%s",
        execution.execution_id, execution.execution_type, execution.trigger_id,
        f" ({', '.join(notes)})" if notes else "",
        extra=log_context.fields(execution),
    )  # fmt: skip


# The engine's terminal (bin/run, docs/ops-console.md "Logs"): one line when an execution
# starts (``_started``) and one when it ends — completed, failed, cancelled, or an attempt
# failed and retried — from whichever process ends it (a worker, the web process taking an
# agent's posted result, the sweeper). Errors go on one line, shortened.
_LOGGED_ERROR_CHARS = 300


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _LOGGED_ERROR_CHARS:
        return text[: _LOGGED_ERROR_CHARS - 1] + "…"
    return text


# pending -> running in one autocommitted statement that only matches a pending execution;
# it stays in flight (dispatched_at) while it runs.
_START_SQL = (
    f"UPDATE executions_execution SET status = '{ExecutionStatus.RUNNING.value}',"
    " started_at = %s, completed_at = NULL, worker_id = %s,"
    " dispatched_at = COALESCE(dispatched_at, %s), updated_at = %s"
    f" WHERE id = %s AND status = '{ExecutionStatus.PENDING.value}'"
)


def _claim_start(pk: int, worker_id: str, now: datetime) -> bool:
    at = connection.ops.adapt_datetimefield_value(now)  # SQLite: the ORM's text form
    with connection.cursor() as cursor:
        cursor.execute(_START_SQL, [at, worker_id, at, at, pk])
        return cursor.rowcount == 1


def execution_run(
    *, execution_id: uuid.UUID | str, worker_id: str | None = None
) -> Execution | None:
    """Start, run through the agent's runner, and finish one execution (the worker's job)."""
    finished = executions_run(execution_ids=[execution_id], worker_id=worker_id)
    return finished[0] if finished else None


def executions_run(*, execution_ids: list, worker_id: str | None = None) -> list:
    """Start, run and finish a run message's executions, one after the other (a batch holds
    only executions whose runner answers at once: executions/dispatch.py). Returns, for
    each one started, its state after the attempt (None: cancelled or taken back meanwhile).

    Started together; the results of those that completed are stored together at the end,
    each with the time it completed (a failed attempt is stored at once, on its own).
    """
    started = executions_start(
        execution_ids=execution_ids, worker_id=worker_id or worker_identity()
    )
    finished: dict[int, Execution | None] = {}
    completions: list[claims.Completion] = []
    for execution in started:
        with log_context.execution_logged(execution):
            outcome = _attempt(execution)
        if isinstance(outcome, AgentResult):
            completions.append(
                claims.Completion(
                    execution=execution,
                    output_data=outcome.output_data,
                    tokens_used=outcome.tokens_used,
                    tools_executed=outcome.tools_executed,
                    conversation_id=outcome.conversation_id,
                    completed_at=timezone.now(),
                )
            )
        elif isinstance(outcome, ResultDeferred):
            finished[execution.pk] = execution_await_result(execution=execution)
        else:
            finished[execution.pk] = outcome
    finished.update(_store_results(completions))
    if any(runner_name_for(e) not in policies.INSTANT_RUNNERS for e in started):
        release_connection()  # an agent worker's thread keeps no pooled connection idle
    return [finished.get(execution.pk) for execution in started]


def _attempt(execution: Execution) -> AgentResult | Execution | None:
    """Run the attempt: the runner's result, to be stored; or, when it did not succeed,
    the execution as the failure left it (None: cancelled or taken back meanwhile)."""
    if runner_name_for(execution) in policies.INSTANT_RUNNERS:
        watched = nullcontext(None)
    else:  # an agent call: watched for a cancel, and no connection held while it waits
        watched = _attempt_watch.watching((execution.pk, execution.retry_count))
    try:
        with watched as abandoned:
            return run_agent(execution, abandoned=abandoned, before_wait=release_connection)
    except AttemptAbandoned:
        # Cancelled, or taken back by the sweeper, while the agent worked: whoever did so
        # has already written the execution's state; this attempt leaves it as it is.
        logger.info("Execution %s: attempt interrupted, no longer wanted", execution.execution_id)
        return Execution.objects.get(pk=execution.pk)
    except RunnerError as error:
        return execution_attempt_failed(
            execution=execution, error_message=str(error), retry=error.retryable
        )
    except SoftTimeLimitExceeded:  # the safety net behind the runner's own deadline
        limit = settings.EXECUTION_TASK_TIME_LIMIT_SECONDS
        return execution_attempt_failed(
            execution=execution,
            error_message=f"The attempt ran past its time limit ({limit} s, "
            "EXECUTION_TASK_TIME_LIMIT_SECONDS).",
        )
    except Exception as error:  # a bug or an unexpected reply must still end the attempt
        logger.exception("Runner crashed on execution %s", execution.execution_id)
        return execution_attempt_failed(
            execution=execution, error_message=f"{type(error).__name__}: {error}"
        )


def _store_results(completions: list[claims.Completion]) -> dict[int, Execution | None]:
    """Store the completed attempts' results: on PostgreSQL in one statement; one by one
    (``_store_result``: retried, or the execution failed with the reason) elsewhere, or when
    that statement fails."""
    if not completions:
        return {}
    if connection.vendor == "postgresql":  # arrays and UPDATE inside WITH: not SQLite's
        try:
            stored = _store_together(completions)
        except DatabaseError as error:
            logger.warning("Storing %d results together failed: %s", len(completions), error)
            if not isinstance(error, DataError):  # a value refused leaves a sound connection
                close_old_connections()  # a broken one is replaced on the next query
        else:
            # Their places in flight are free: a dispatch pass follows.
            dispatch.enqueue_on_commit(
                [c.execution.execution_id for c in completions], batched=True
            )
            return {
                c.execution.pk: _completed(c) if c.execution.pk in stored else None
                for c in completions
            }
    return {c.execution.pk: _store_result(c.execution, c) for c in completions}


def _store_together(completions: list[claims.Completion]) -> set[int]:
    """In one transaction (a savepoint in a caller's): the results, their triggers' counts
    and, when a result completes its trigger (a single-execution trigger, a one-time
    schedule's run), the trigger's status — all stored or none."""
    ends = [c.execution for c in completions if _completes_its_trigger(c.execution)]
    with transaction.atomic():
        stored = claims.complete_many(completions)
        at = timezone.now()
        for execution in ends:
            if execution.pk in stored:
                trigger_services.trigger_complete(trigger_id=execution.trigger_id, at=at)
    return stored


def _completes_its_trigger(execution: Execution) -> bool:
    return policies.completes_trigger(
        is_single_execution=execution.trigger.is_single_execution,
        counted=not execution.is_test,
        one_time_run=policies.is_one_time_run(execution.trigger, execution.execution_type),
    )


def _completed(completion: claims.Completion) -> Execution:
    """The execution as its stored completion left it (counted in the metrics)."""
    execution = completion.execution
    now = completion.completed_at
    ran = _ran(execution, now)
    metrics.execution_finished(
        execution.execution_type, ExecutionStatus.COMPLETED, duration_seconds=ran
    )
    logger.info(
        "Execution %s completed%s",
        execution.execution_id, "" if ran is None else f" in {ran:.2f} s",
        extra=log_context.fields(execution),
    )  # fmt: skip
    execution.status = ExecutionStatus.COMPLETED
    execution.output_data = completion.output_data
    execution.tokens_used = completion.tokens_used
    execution.tools_executed = completion.tools_executed
    if completion.conversation_id:  # else the one it was made with (a rerun's) stays
        execution.conversation_id = completion.conversation_id[:255]
    execution.error_message = ""
    execution.completed_at = execution.updated_at = now
    return execution


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


def attempts_abandoned(attempts: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of ``attempts`` — (execution pk, retry_count) — that are no longer wanted:
    cancelled, or taken back by the sweeper, while their agent worked. One query for them all
    (the attempt watch asks it for every call in flight in the process).

    A database error answers none: the agent's work goes on, and the attempt's end meets the
    database as it would have without this check. A broken connection is dropped so that
    the next check, and that end, connect anew.
    """
    try:
        found = Execution.objects.filter(pk__in=[pk for pk, _ in attempts]).values_list(
            "pk", "status", "retry_count"
        )
        now = {pk: (status, retry_count) for pk, status, retry_count in found}
    except DatabaseError:
        logger.warning("Cannot check %d attempts for a cancel", len(attempts))
        close_old_connections()
        return set()
    # A row not found (not yet visible to this connection, or deleted with its trigger)
    # stops nothing: the attempt's end finds what there is to find.
    return {
        (pk, retry_count)
        for pk, retry_count in attempts
        if pk in now and now[pk] != (ExecutionStatus.RUNNING, retry_count)
    }


def release_connection() -> None:
    """Give this thread's database connection back (to the pool, where there is one) before
    a wait on an agent: a thousand calls in flight hold none (docs/runners.md)."""
    if not connection.in_atomic_block:
        connection.close()


# Every agent call in flight in this process, checked for a cancel in one query, twice per
# EXECUTION_CANCEL_CHECK_SECONDS (executions/services/attempt_watch.py).
_attempt_watch = AttemptWatch(
    check=attempts_abandoned,
    interval=lambda: settings.EXECUTION_CANCEL_CHECK_SECONDS / 2,
    release=release_connection,
)


def agent_calls_in_flight() -> int:
    """The agent calls this process has in flight now."""
    return _attempt_watch.watched()


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
    completion = claims.Completion(
        execution=execution,
        output_data=output_data,
        tokens_used=tokens_used,
        tools_executed=tools_executed,
        conversation_id=(conversation_id or "")[:255],
        completed_at=timezone.now(),
    )
    # A runner that names no conversation leaves the one the execution was made with (a
    # management API rerun's conversationId).
    conversation = (
        {"conversation_id": completion.conversation_id} if completion.conversation_id else {}
    )
    with transaction.atomic():
        updated = _running_attempt(execution).update(
            status=ExecutionStatus.COMPLETED,
            output_data=completion.output_data,
            tokens_used=completion.tokens_used,
            tools_executed=completion.tools_executed,
            **conversation,
            error_message="",
            completed_at=completion.completed_at,
            updated_at=completion.completed_at,
        )
        if not updated:
            return None
        _after_finish(execution, succeeded=True, finished_at=completion.completed_at)
    return _completed(completion)


def execution_await_result(*, execution: Execution) -> Execution | None:
    """The runtime accepted the attempt and will post its result (docs/runners.md): it stays
    running, awaiting that result, a cancel or its timeout, with no worker. It leaves the
    places in flight, which bound what the workers hold (a dispatch pass follows). None when
    the attempt ended meanwhile (its result came first, a cancel, the sweeper)."""
    now = timezone.now()
    updated = _running_attempt(execution).update(
        awaiting_result_since=now, dispatched_at=None, updated_at=now
    )
    if not updated:
        return None
    dispatch.enqueue_on_commit([execution.execution_id], batched=True)
    metrics.executions_reached(execution.execution_type, "awaiting_result")
    execution.awaiting_result_since = execution.updated_at = now
    execution.dispatched_at = None
    return execution


def execution_heartbeat(*, execution: Execution) -> bool:
    """The runtime of this running attempt is still at work: the sweeper's timeout counts
    from now (docs/runners.md). False when the attempt is over (finished, cancelled, retried)."""
    return bool(_running_attempt(execution).update(heartbeat_at=timezone.now()))


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
            current.dispatched_at = None  # waits in the database until its backoff is over
            current.awaiting_result_since = current.heartbeat_at = None
            current.save()
            dispatch.enqueue_on_commit([current.execution_id], batched=True)
            metrics.executions_reached(current.execution_type, ExecutionStatus.PENDING)
            logger.warning(
                "Execution %s: attempt %d failed, retried in %.0f s: %s",
                current.execution_id, current.retry_count, delay, _one_line(error_message),
                extra=log_context.fields(current),
            )  # fmt: skip
            return current
        current.status = ExecutionStatus.FAILED
        current.error_message = error_message
        current.completed_at = now
        current.save()
        _after_finish(current, succeeded=False, finished_at=now, error_message=error_message)
    metrics.execution_finished(
        current.execution_type, ExecutionStatus.FAILED, duration_seconds=_ran(execution, now)
    )
    logger.warning(
        "Execution %s failed: %s", current.execution_id, _one_line(error_message),
        extra=log_context.fields(current),
    )  # fmt: skip
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
    started_at = execution.started_at
    execution.refresh_from_db()
    if updated:  # its place in flight, if it had one, is free
        dispatch.enqueue_on_commit([execution.execution_id], batched=True)
    if not updated:
        raise ValidationError(
            {
                "status": f"The execution is {execution.status}; "
                "only pending or running ones can be cancelled."
            }
        )
    metrics.execution_finished(
        execution.execution_type,
        ExecutionStatus.CANCELLED,
        duration_seconds=(now - started_at).total_seconds() if started_at else None,
    )
    logger.info(
        "Execution %s cancelled%s", execution.execution_id, f" by {who}" if who else "",
        extra=log_context.fields(execution),
    )  # fmt: skip
    return execution


def _back_to_waiting(execution: Execution) -> None:
    """Not now: the execution waits in the database again, out of the places in flight."""
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        dispatched_at=None
    )
    dispatch.enqueue_on_commit([execution.execution_id], batched=True)


def _ran(execution: Execution, finished_at: datetime) -> float | None:
    """The attempt's duration in seconds (None when it never started)."""
    if execution.started_at is None:
        return None
    return (finished_at - execution.started_at).total_seconds()


def _after_finish(
    execution: Execution, *, succeeded: bool, finished_at: datetime, error_message: str = ""
) -> None:
    """Count the finished execution on its trigger, then let the rules freeze or complete
    it. Its place in flight is free: a dispatch pass follows the commit (a ``buffer_one``
    slot waiting behind this execution may go now)."""
    trigger = execution.trigger
    streak = trigger_services.trigger_record_outcome(
        trigger_id=trigger.pk, succeeded=succeeded, finished_at=finished_at
    )
    if _completes_its_trigger(execution):
        trigger_services.trigger_complete(trigger_id=trigger.pk, at=finished_at)
    elif not succeeded:
        threshold = policies.failure_threshold(trigger, default=settings.TRIGGER_FAILURE_THRESHOLD)
        if policies.freezes_after_failure(consecutive_failures=streak, threshold=threshold):
            reason = policies.freeze_reason(threshold=threshold, last_error=error_message)
            trigger_services.trigger_freeze(trigger_id=trigger.pk, reason=reason, at=finished_at)
    dispatch.enqueue_on_commit([execution.execution_id], batched=True)
