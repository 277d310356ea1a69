"""The lifecycle services: transitions only from the expected state, retries, counters,
failure freezing, single-execution, cancel and the sweeper."""

from datetime import timedelta

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.services import firing, lifecycle, sweeper
from triggers.choices import TriggerStatus
from triggers.services import trigger_enable


@pytest.fixture
def trigger(acme, make_trigger):
    return make_trigger(acme, "webhook", max_retries=2)


def _fire(trigger, **kwargs) -> Execution:
    return firing.execution_fire(
        trigger=trigger, execution_type=ExecutionType.WEBHOOK, input_data={"n": 1}, **kwargs
    ).execution


def _start(execution: Execution) -> Execution:
    started = lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w1")
    assert started is not None
    return started


def test_a_firing_is_stored_pending_with_the_trigger_retry_limit(trigger):
    execution = _fire(trigger, request_payload={"body": "raw"})

    assert execution.status == ExecutionStatus.PENDING
    assert execution.max_retries == 2
    assert Execution.objects.get(pk=execution.pk).request_payload == {"body": "raw"}


def test_the_same_idempotency_key_returns_the_first_execution(trigger):
    first = firing.execution_fire(
        trigger=trigger, execution_type=ExecutionType.WEBHOOK, idempotency_key="evt_1"
    )
    again = firing.execution_fire(
        trigger=trigger, execution_type=ExecutionType.WEBHOOK, idempotency_key="evt_1"
    )

    assert (first.created, again.created) == (True, False)
    assert again.execution.pk == first.execution.pk
    assert Execution.objects.count() == 1


@pytest.mark.parametrize("status", [TriggerStatus.INACTIVE, TriggerStatus.FAILED])
def test_a_trigger_that_is_not_active_refuses_to_fire(trigger, status):
    trigger.status = status
    trigger.save()

    with pytest.raises(firing.FiringRefused, match="The trigger is"):
        _fire(trigger)
    assert not Execution.objects.exists()


def test_start_only_takes_a_pending_execution_once(trigger):
    execution = _fire(trigger)

    started = _start(execution)
    second = lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w2")

    assert started.status == ExecutionStatus.RUNNING and started.worker_id == "w1"
    assert second is None
    assert Execution.objects.get(pk=execution.pk).worker_id == "w1"


def test_run_completes_with_the_dry_run_output_and_counts_on_the_trigger(trigger):
    execution = _fire(trigger)

    finished = lifecycle.execution_run(execution_id=execution.execution_id, worker_id="w1")

    assert finished.status == ExecutionStatus.COMPLETED
    assert finished.output_data["request"]["input"] == {"n": 1}
    assert finished.completed_at >= finished.started_at
    trigger.refresh_from_db()
    assert (trigger.execution_count, trigger.last_execution_status) == (1, "completed")
    assert trigger.last_executed_at == finished.completed_at


def test_a_failed_attempt_is_retried_after_a_backoff_then_fails(trigger, settings):
    settings.EXECUTION_RETRY_BASE_SECONDS = 10
    execution = _fire(trigger)

    retried = lifecycle.execution_attempt_failed(
        execution=_start(execution), error_message="boom 1"
    )

    assert retried.status == ExecutionStatus.PENDING
    assert retried.retry_count == 1
    assert retried.available_at > timezone.now() + timedelta(seconds=4)
    assert retried.error_message == "boom 1"
    # Not due yet: a worker that gets the message early leaves it pending.
    assert lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w") is None

    Execution.objects.filter(pk=execution.pk).update(available_at=timezone.now())
    lifecycle.execution_attempt_failed(execution=_start(execution), error_message="boom 2")
    Execution.objects.filter(pk=execution.pk).update(available_at=timezone.now())
    failed = lifecycle.execution_attempt_failed(execution=_start(execution), error_message="boom 3")

    assert failed.status == ExecutionStatus.FAILED
    assert failed.retry_count == 2
    assert failed.error_message == "boom 3"
    trigger.refresh_from_db()
    assert (trigger.error_count, trigger.consecutive_failures) == (1, 1)
    assert trigger.last_execution_status == "failed"


def test_consecutive_failures_freeze_the_trigger_and_enabling_unfreezes(trigger, settings):
    settings.TRIGGER_FAILURE_THRESHOLD = 2
    trigger.max_retries = 0
    trigger.save()
    for attempt in range(2):
        lifecycle.execution_attempt_failed(
            execution=_start(_fire(trigger)), error_message=f"runtime down {attempt}"
        )

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.FAILED
    assert trigger.error_message.startswith("Frozen after 2 consecutive failed executions")
    assert "runtime down 1" in trigger.error_message
    assert trigger.error_at is not None and trigger.next_fire_at is None
    with pytest.raises(firing.FiringRefused):
        _fire(trigger)

    trigger = trigger_enable(trigger=trigger)
    assert (trigger.status, trigger.consecutive_failures, trigger.error_message) == (
        "active",
        0,
        "",
    )
    assert _fire(trigger).status == ExecutionStatus.PENDING


def test_a_success_ends_the_failure_streak(trigger):
    trigger.max_retries = 0
    trigger.save()
    lifecycle.execution_attempt_failed(execution=_start(_fire(trigger)), error_message="x")
    lifecycle.execution_run(execution_id=_fire(trigger).execution_id)

    trigger.refresh_from_db()
    assert (trigger.consecutive_failures, trigger.error_count, trigger.execution_count) == (0, 1, 2)


def test_a_single_execution_trigger_completes_after_its_run_and_fires_no_more(trigger):
    trigger.is_single_execution = True
    trigger.save()
    execution = _fire(trigger)

    with pytest.raises(firing.FiringRefused, match="already fired"):
        _fire(trigger)
    lifecycle.execution_run(execution_id=execution.execution_id)

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.COMPLETED
    assert Execution.objects.filter(trigger=trigger).count() == 1


def test_a_manual_run_does_not_use_up_a_single_execution_trigger(trigger):
    trigger.is_single_execution = True
    trigger.save()

    manual = firing.execution_create_test(trigger=trigger)
    lifecycle.execution_run(execution_id=manual.execution_id)

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.ACTIVE
    assert _fire(trigger).status == ExecutionStatus.PENDING


@pytest.mark.parametrize("started", [False, True])
def test_cancel_ends_a_pending_or_running_execution(trigger, alice, started):
    execution = _fire(trigger)
    if started:
        execution = _start(execution)

    cancelled = lifecycle.execution_cancel(execution=execution, cancelled_by=alice)

    assert cancelled.status == ExecutionStatus.CANCELLED
    assert cancelled.error_message == "Cancelled by alice."
    assert cancelled.completed_at is not None


def test_a_cancelled_running_execution_discards_the_late_result(trigger):
    running = _start(_fire(trigger))
    lifecycle.execution_cancel(execution=running)

    assert lifecycle.execution_complete(execution=running, output_data={"late": True}) is None
    assert Execution.objects.get(pk=running.pk).output_data is None
    trigger.refresh_from_db()
    assert trigger.execution_count == 0


@pytest.mark.postgresql_only  # the server ends the connection (pg_terminate_backend)
@pytest.mark.django_db(transaction=True)
def test_the_cancel_check_outlives_a_broken_database_connection(trigger):
    running = _start(_fire(trigger))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    # The server ends this connection, as a restart or a network cut would.
    with psycopg.connect(_dsn(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])

    attempt = {(running.pk, running.retry_count)}
    assert lifecycle.attempts_abandoned(attempt) == set()  # the run goes on
    assert lifecycle.attempts_abandoned(attempt) == set()  # connected anew: still running
    lifecycle.execution_cancel(execution=running)
    assert lifecycle.attempts_abandoned(attempt) == attempt


def _dsn() -> str:
    db = connection.settings_dict
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"user={db['USER'] or 'postgres'} dbname={db['NAME']}"
    )


def test_a_finished_execution_cannot_be_cancelled(trigger):
    done = lifecycle.execution_run(execution_id=_fire(trigger).execution_id)

    with pytest.raises(ValidationError, match="only pending or running"):
        lifecycle.execution_cancel(execution=done)
    assert Execution.objects.get(pk=done.pk).status == ExecutionStatus.COMPLETED


def test_the_sweeper_times_out_a_lost_run_and_retries_it(trigger, settings):
    settings.EXECUTION_TIMEOUT_SECONDS = 60
    running = _start(_fire(trigger))
    Execution.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(minutes=5))

    report = sweeper.executions_sweep()

    swept = Execution.objects.get(pk=running.pk)
    assert report.timed_out == 1
    assert (swept.status, swept.retry_count) == (ExecutionStatus.PENDING, 1)
    assert swept.error_message == "No result within 60 s: the worker was lost or the run hung."
    # The lost worker's attempt, if it ever answers, no longer counts.
    assert lifecycle.execution_complete(execution=running, output_data={"late": True}) is None


def test_the_sweeper_fails_a_lost_run_with_no_retries_left(trigger, settings):
    settings.EXECUTION_TIMEOUT_SECONDS = 60
    trigger.max_retries = 0
    trigger.save()
    running = _start(_fire(trigger))
    Execution.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(minutes=5))

    sweeper.executions_sweep()

    swept = Execution.objects.get(pk=running.pk)
    assert swept.status == ExecutionStatus.FAILED
    assert "the worker was lost" in swept.error_message


@pytest.mark.django_db(transaction=True)
def test_limits_hold_when_firings_race(acme, make_trigger, race):
    """Twelve concurrent firings against a limit of 5 per hour: exactly 5 get through."""
    trigger = make_trigger(acme, "webhook", max_executions_per_hour=5)

    outcomes = race(lambda: _fire(trigger), 12)

    fired = [o for o in outcomes if isinstance(o, Execution)]
    refused = [o for o in outcomes if isinstance(o, firing.FiringRefused)]
    assert (len(fired), len(refused)) == (5, 7)
    assert all(3500 < r.retry_after_seconds <= 3601 for r in refused)
    assert Execution.objects.filter(trigger=trigger).count() == 5
