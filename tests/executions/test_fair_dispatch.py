"""Fair dispatch: the executions table is the queue, the broker carries what is in flight;
the sweeper re-publishes only what is truly lost (executions/dispatch.py, sweeper.py)."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from executions import dispatch
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.services import firing, lifecycle, sweeper
from executions.tasks import dispatch_executions, sweep_executions
from tests.conftest import BrokerQueues, purge_test_queue, queued_executions


@pytest.fixture
def queue():
    purge_test_queue()
    yield BrokerQueues()
    purge_test_queue()


def _queued(client) -> int:
    """How many executions the run queue's messages carry."""
    return len(queued_executions(client))


def _fire(trigger, kind=ExecutionType.WEBHOOK, n=1) -> list[Execution]:
    return [
        firing.execution_fire(trigger=trigger, execution_type=kind, input_data={"n": i}).execution
        for i in range(n)
    ]


def _dispatch(capture) -> int:
    with capture(execute=True):  # publish as the pass's commit would
        return dispatch.dispatch_waiting()


def _dispatched(executions) -> list[bool]:
    by_pk = dict(
        Execution.objects.filter(pk__in=[e.pk for e in executions]).values_list(
            "pk", "dispatched_at"
        )
    )
    return [by_pk[e.pk] is not None for e in executions]


def test_a_firing_waits_in_the_database_until_a_pass_dispatches_it(
    acme, make_trigger, queue, django_capture_on_commit_callbacks
):
    (execution,) = _fire(make_trigger(acme, "webhook"))
    assert _dispatched([execution]) == [False]
    assert _queued(queue) == 0

    assert _dispatch(django_capture_on_commit_callbacks) == 1

    assert _dispatched([execution]) == [True]
    assert _queued(queue) == 1


def test_no_more_than_the_bound_are_in_flight(
    acme, make_trigger, queue, settings, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 3
    executions = _fire(make_trigger(acme, "webhook"), n=10)

    assert _dispatch(django_capture_on_commit_callbacks) == 3
    assert _dispatch(django_capture_on_commit_callbacks) == 0  # still 3 in flight

    assert _dispatched(executions) == [True] * 3 + [False] * 7  # oldest first
    assert _queued(queue) == 3
    lifecycle.execution_run(execution_id=executions[0].execution_id)
    assert _dispatch(django_capture_on_commit_callbacks) == 1  # one place came free
    assert _dispatched(executions)[3] is True


def test_a_flooding_tenant_does_not_take_the_places_of_another(
    acme, globex, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 4
    flood = _fire(make_trigger(acme, "webhook"), n=20)
    trickle = _fire(make_trigger(globex, "webhook", created_by=None), n=2)

    assert _dispatch(django_capture_on_commit_callbacks) == 4

    assert _dispatched(trickle) == [True, True]
    assert sum(_dispatched(flood)) == 2


def test_within_a_tenant_each_trigger_gets_its_turn(
    acme, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 2
    busy = _fire(make_trigger(acme, "webhook"), n=10)
    quiet = _fire(make_trigger(acme, "webhook"), n=1)

    _dispatch(django_capture_on_commit_callbacks)

    assert _dispatched(quiet) == [True]
    assert _dispatched(busy)[:2] == [True, False]


@pytest.mark.postgresql_only  # the skip scan over lanes (LATERAL)
@pytest.mark.parametrize("turn", [0.0, 0.5, 0.999])
def test_a_tenants_triggers_beyond_what_a_pass_reads_are_read_in_their_turn(
    acme, make_trigger, settings, queue, monkeypatch, turn, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 1  # a pass reads 1 + 32 of the tenant's triggers
    triggers = [make_trigger(acme, "webhook", name=f"hook {i}") for i in range(40)]
    # Oldest on the highest trigger id, so the pass's choice shows which triggers it read.
    executions = [_fire(trigger)[0] for trigger in reversed(triggers)]
    monkeypatch.setattr(dispatch.random, "random", lambda: turn)

    _dispatch(django_capture_on_commit_callbacks)

    (chosen,) = [e for e, sent in zip(executions, _dispatched(executions), strict=True) if sent]
    lo, hi = triggers[0].pk, triggers[-1].pk
    pivot = lo + int(turn * (hi - lo + 1))
    read = sorted(t.pk for t in triggers if t.pk >= pivot)[:33]
    read += sorted(t.pk for t in triggers if t.pk < pivot)[: 33 - len(read)]
    assert chosen.trigger_id == max(read)  # the oldest execution among the triggers read


def test_scheduled_and_manual_runs_go_before_events(
    acme, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 1
    events = _fire(make_trigger(acme, "webhook"), n=5)
    manual = _fire(make_trigger(acme, "cron"), kind=ExecutionType.MANUAL)

    _dispatch(django_capture_on_commit_callbacks)

    assert _dispatched(manual) == [True]
    assert not any(_dispatched(events))


def test_the_classes_are_configurable(
    acme, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    settings.EXECUTION_MAX_IN_FLIGHT = 1
    settings.EXECUTION_DISPATCH_CLASSES = [["webhook"], ["scheduled", "manual"]]
    events = _fire(make_trigger(acme, "webhook"), n=2)
    manual = _fire(make_trigger(acme, "cron"), kind=ExecutionType.MANUAL)

    _dispatch(django_capture_on_commit_callbacks)

    assert _dispatched(events) == [True, False]
    assert _dispatched(manual) == [False]


def test_a_trigger_concurrency_limit_holds(
    acme, make_trigger, queue, django_capture_on_commit_callbacks
):
    limited = make_trigger(acme, "webhook", max_concurrency=2)
    executions = _fire(limited, n=5)

    _dispatch(django_capture_on_commit_callbacks)
    lifecycle.execution_start(execution_id=executions[0].execution_id, worker_id="w1")
    _dispatch(django_capture_on_commit_callbacks)

    assert _dispatched(executions) == [True, True, False, False, False]


def test_a_tenant_concurrency_limit_holds(
    acme, globex, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    settings.EXECUTION_TENANT_MAX_IN_FLIGHT = 3
    ours = _fire(make_trigger(acme, "webhook"), n=3) + _fire(make_trigger(acme, "webhook"), n=3)
    theirs = _fire(make_trigger(globex, "webhook", created_by=None), n=5)

    assert _dispatch(django_capture_on_commit_callbacks) == 6

    assert sum(_dispatched(ours)) == 3
    assert sum(_dispatched(theirs)) == 3


def test_a_retry_waits_in_the_database_until_its_backoff_is_over(
    acme, make_trigger, settings, queue, django_capture_on_commit_callbacks
):
    (execution,) = _fire(make_trigger(acme, "webhook", max_retries=2))
    _dispatch(django_capture_on_commit_callbacks)
    started = lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w1")

    retried = lifecycle.execution_attempt_failed(execution=started, error_message="boom")

    assert (retried.status, retried.dispatched_at) == (ExecutionStatus.PENDING, None)
    assert _dispatch(django_capture_on_commit_callbacks) == 0  # backoff not over
    Execution.objects.filter(pk=execution.pk).update(available_at=timezone.now())
    assert _dispatch(django_capture_on_commit_callbacks) == 1


def test_an_execution_that_may_not_start_goes_back_to_waiting(acme, make_trigger, queue):
    (execution,) = _fire(make_trigger(acme, "webhook"))
    future = timezone.now() + timedelta(minutes=5)
    Execution.objects.filter(pk=execution.pk).update(
        available_at=future, dispatched_at=timezone.now()
    )

    assert lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w1") is None

    assert _dispatched([execution]) == [False]


def test_a_failed_publish_leaves_the_executions_waiting(
    acme, make_trigger, queue, monkeypatch, django_capture_on_commit_callbacks
):
    executions = _fire(make_trigger(acme, "webhook"), n=2)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens

    _dispatch(django_capture_on_commit_callbacks)

    assert _dispatched(executions) == [False, False]


# -- the sweeper: only what is truly lost ----------------------------------------------------


def _age_dispatch(executions, minutes: float) -> None:
    Execution.objects.filter(pk__in=[e.pk for e in executions]).update(
        dispatched_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_the_sweeper_republishes_a_message_the_broker_lost(
    acme, make_trigger, queue, django_capture_on_commit_callbacks
):
    executions = _fire(make_trigger(acme, "webhook"), n=2)
    _dispatch(django_capture_on_commit_callbacks)
    purge_test_queue()  # the broker lost its data
    _age_dispatch(executions[:1], minutes=2)

    report = sweeper.executions_sweep()

    assert report.requeued == 1  # the other was published too recently to tell
    assert _queued(queue) == 1


def test_the_sweeper_republishes_nothing_while_the_workers_are_busy(
    acme, make_trigger, queue, django_capture_on_commit_callbacks
):
    executions = _fire(make_trigger(acme, "webhook"), n=4)
    _dispatch(django_capture_on_commit_callbacks)
    _age_dispatch(executions, minutes=10)
    lifecycle.execution_start(execution_id=executions[0].execution_id, worker_id="w1")
    queued = _queued(queue)

    report = sweeper.executions_sweep()

    assert report.requeued == 0  # three wait in the queue behind the running one
    assert _queued(queue) == queued


def test_the_sweeper_republishes_a_message_the_workers_went_past(
    acme, make_trigger, queue, django_capture_on_commit_callbacks
):
    skipped, later = _fire(make_trigger(acme, "webhook"), n=2)
    _dispatch(django_capture_on_commit_callbacks)
    _age_dispatch([skipped], minutes=10)
    _age_dispatch([later], minutes=5)
    lifecycle.execution_start(execution_id=later.execution_id, worker_id="w1")

    report = sweeper.executions_sweep()

    assert report.requeued == 1
    assert Execution.objects.get(pk=skipped.pk).dispatched_at > timezone.now() - timedelta(
        minutes=1
    )


# -- control work apart ------------------------------------------------------------------------


def test_the_sweeper_and_the_periodic_pass_go_to_the_control_queue(queue):
    sweep_executions.apply_async()
    dispatch_executions.apply_async()

    assert queue.length(django_settings.CELERY_CONTROL_QUEUE) == 2
    assert _queued(queue) == 0  # never behind run messages
    beat = django_settings.CELERY_BEAT_SCHEDULE
    for name in ("sweep-executions", "dispatch-executions"):
        assert beat[name]["options"]["queue"] == django_settings.CELERY_CONTROL_QUEUE
    assert django_settings.CELERY_CONTROL_QUEUE in django_settings.CELERY_TASK_QUEUES
