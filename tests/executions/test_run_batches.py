"""Run batches: executions of an instant runner (dry_run) share a run message, which a
worker starts in one statement and stores in another (executions/dispatch.py,
executions/services/claims.py); any other execution travels alone."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from executions import dispatch
from executions.choices import ExecutionStatus, ExecutionType
from executions.fairness import Waiting
from executions.models import Execution
from executions.runners import UnrunnableError
from executions.services import firing, lifecycle
from executions.tasks import run_execution
from tests.conftest import BrokerQueues, purge_test_queue, queued_run_messages
from triggers.choices import TriggerStatus
from triggers.models import Trigger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def queue():
    purge_test_queue()
    yield BrokerQueues()
    purge_test_queue()


def _fire(trigger, n=1, kind=ExecutionType.WEBHOOK) -> list[Execution]:
    return [
        firing.execution_fire(trigger=trigger, execution_type=kind, input_data={"n": i}).execution
        for i in range(n)
    ]


def _ids(executions) -> list[str]:
    return [str(e.execution_id) for e in executions]


def _waiting(pk: int, batchable: bool) -> Waiting:
    return Waiting(pk, "webhook", T0, batchable)


def test_instant_executions_fill_batches_in_the_order_picked_and_others_go_alone():
    picked = [_waiting(1, True), _waiting(2, False), _waiting(3, True), _waiting(4, True)]
    ids = {pk: f"e{pk}" for pk in range(1, 5)}

    assert dispatch.run_messages(picked, ids, batch_size=2) == [["e1", "e3"], "e2", "e4"]
    assert dispatch.run_messages(picked, ids, batch_size=1) == ["e1", "e2", "e3", "e4"]


def test_a_pass_publishes_dry_run_executions_in_batches(
    acme, make_trigger, queue, settings, django_capture_on_commit_callbacks
):
    settings.EXECUTION_RUN_BATCH_SIZE = 4
    executions = _fire(make_trigger(acme, "webhook"), n=10)

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_waiting() == 10

    ids = _ids(executions)
    assert queued_run_messages(queue) == [ids[0:4], ids[4:8], ids[8:10]]


def test_an_execution_whose_agent_takes_time_travels_alone_on_the_agent_queue(
    acme, acme_agent, make_trigger, queue, settings, django_capture_on_commit_callbacks
):
    settings.EXECUTION_RUN_BATCH_SIZE = 4
    acme_agent.runner = "http"
    acme_agent.save()
    slow = _fire(make_trigger(acme, "webhook", name="slow", agent=acme_agent), n=2)
    quick = _fire(make_trigger(acme, "webhook", name="quick"), n=2)

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_waiting() == 4

    assert queued_run_messages(queue) == [_ids(quick)]  # one batch on the run queue
    agent_queue = queued_run_messages(queue, settings.CELERY_AGENT_QUEUE)
    assert sorted(agent_queue) == sorted(_ids(slow))  # each alone, for the agent worker


@pytest.mark.postgresql_only  # one start and one store for a batch: claims.py
def test_a_batch_runs_every_execution_and_counts_them_on_their_triggers(acme, make_trigger):
    first, second = make_trigger(acme, "webhook", name="a"), make_trigger(acme, "webhook", name="b")
    (alone,) = _fire(first)
    executions = _fire(first, n=3) + _fire(second, n=2)

    with CaptureQueriesContext(connection) as for_one:
        run_execution([str(alone.execution_id)])
    with CaptureQueriesContext(connection) as for_five:
        statuses = run_execution(_ids(executions))

    # The worker's statements do not grow with the batch: one start, one store.
    assert len(for_five.captured_queries) == len(for_one.captured_queries)
    assert statuses == [ExecutionStatus.COMPLETED] * 5
    stored = Execution.objects.filter(pk__in=[e.pk for e in executions])
    for execution in stored:
        assert execution.status == ExecutionStatus.COMPLETED
        assert execution.output_data["dry_run"] is True
        assert execution.worker_id
        assert execution.created_at <= execution.started_at <= execution.completed_at
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.execution_count, second.execution_count) == (4, 2)
    assert first.last_execution_status == "completed"
    assert first.last_executed_at == max(e.completed_at for e in stored if e.trigger_id == first.pk)


def test_a_batch_leaves_what_was_cancelled_or_started_elsewhere(acme, make_trigger, alice):
    trigger = make_trigger(acme, "webhook")
    waiting, cancelled, elsewhere = _fire(trigger, n=3)
    lifecycle.execution_cancel(execution=cancelled, cancelled_by=alice)
    lifecycle.execution_start(execution_id=elsewhere.execution_id, worker_id="other")

    statuses = run_execution(_ids([waiting, cancelled, elsewhere]))

    assert statuses == [ExecutionStatus.COMPLETED]  # only the one it could start
    by_pk = {e.pk: e for e in Execution.objects.filter(trigger=trigger)}
    assert by_pk[cancelled.pk].status == ExecutionStatus.CANCELLED
    assert by_pk[elsewhere.pk].status == ExecutionStatus.RUNNING
    assert by_pk[elsewhere.pk].worker_id == "other"
    trigger.refresh_from_db()
    assert trigger.execution_count == 1


def test_a_failed_attempt_in_a_batch_fails_alone(acme, make_trigger, monkeypatch):
    trigger = make_trigger(acme, "webhook", max_retries=0)
    executions = _fire(trigger, n=3)
    real_run = lifecycle.run_agent

    def run_agent(execution, **kwargs):
        if execution.pk == executions[1].pk:
            raise UnrunnableError("the agent said no")
        return real_run(execution, **kwargs)

    monkeypatch.setattr(lifecycle, "run_agent", run_agent)

    statuses = run_execution(_ids(executions))

    assert statuses == ["completed", "failed", "completed"]
    failed = Execution.objects.get(pk=executions[1].pk)
    assert failed.error_message == "the agent said no"
    trigger.refresh_from_db()
    assert (trigger.execution_count, trigger.error_count) == (3, 1)


def test_a_result_that_completes_its_trigger_is_stored_with_it(acme, make_trigger):
    trigger = make_trigger(acme, "webhook", is_single_execution=True)
    (execution,) = _fire(trigger)

    assert run_execution([str(execution.execution_id)]) == ["completed"]

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.COMPLETED


def test_a_buffered_slot_in_a_batch_waits_for_the_running_one(acme, make_trigger):
    trigger = make_trigger(acme, "cron", overlap_policy="buffer_one")
    running, buffered = _fire(trigger, n=2, kind=ExecutionType.SCHEDULED)
    lifecycle.execution_start(execution_id=running.execution_id, worker_id="other")
    Execution.objects.filter(pk=buffered.pk).update(dispatched_at=timezone.now())

    assert run_execution([str(buffered.execution_id), str(uuid.uuid4())]) == []

    buffered.refresh_from_db()
    assert buffered.status == ExecutionStatus.PENDING
    assert buffered.dispatched_at is None  # back to waiting for a later pass
    assert Trigger.objects.get(pk=trigger.pk).execution_count == 0
