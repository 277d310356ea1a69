"""Each firing rule gives the same verdict through every delivery kind.

A rule is decided by one function of executions/policies.py; here each rule is put in force
on a trigger and the trigger is fired the three ways a trigger fires today — its cron slot
(the scheduler), "run now" (the service), and a webhook delivery (over HTTP) — and the
verdict (fired, or refused with the rule's reason) must be the same each time.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.scheduler import fire_due_triggers
from executions.services import firing, lifecycle
from triggers import config_keys
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from triggers.services import trigger_disable, trigger_freeze

KINDS = ["scheduled", "run_now", "webhook"]


@pytest.fixture
def fire(client, acme, make_trigger):
    """fire(kind, **settings) -> ("fired", None) or ("refused", reason): a trigger made for
    ``kind`` with ``settings``, prepared by ``fire.prepare`` (if set), then fired once."""

    def run(kind: str, prepare=None, **settings):
        if kind == "scheduled":
            trigger = make_trigger(acme, "cron", cron_expression="* * * * *", **settings)
        else:
            trigger = make_trigger(acme, "webhook", **settings)
        if prepare:
            prepare(trigger)
        trigger.refresh_from_db()
        return _FIRE[kind](client, trigger)

    return run


def _scheduled(client, trigger):
    slot = timezone.now().replace(second=0, microsecond=0)
    if trigger.status == TriggerStatus.ACTIVE:
        Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=slot)
    fire_due_triggers(now=slot + timedelta(seconds=1))
    execution = Execution.objects.filter(trigger=trigger, scheduled_for=slot).first()
    if execution is None:
        return ("refused", None)  # not due at all: an inactive trigger is not scheduled
    if execution.status == ExecutionStatus.CANCELLED:
        return ("refused", execution.error_message.removeprefix("Not run: "))
    return ("fired", None)


def _run_now(client, trigger):
    try:
        firing.execution_run_now(trigger=trigger)
    except firing.FiringRefused as refused:
        return ("refused", refused.reason)
    return ("fired", None)


def _webhook(client, trigger):
    response = client.post(
        f"/hooks/{trigger.webhook_endpoint.token}", data=b"{}", content_type="application/json"
    )
    if response.status_code == 202:
        return ("fired", None)
    assert response.status_code in (409, 429), response.content
    return ("refused", response.json()["detail"])


_FIRE = {"scheduled": _scheduled, "run_now": _run_now, "webhook": _webhook}


def _history(trigger, count: int, *, age: timedelta = timedelta(0), **fields) -> None:
    """``count`` counted executions of ``trigger``, created ``age`` ago."""
    for _ in range(count):
        execution = Execution.objects.create(
            tenant_id=trigger.tenant_id,
            trigger=trigger,
            execution_type=ExecutionType.WEBHOOK,
            status=fields.get("status", ExecutionStatus.COMPLETED),
        )
        Execution.objects.filter(pk=execution.pk).update(created_at=timezone.now() - age)


@pytest.mark.parametrize("kind", KINDS)
def test_an_active_trigger_without_rules_in_force_fires(fire, kind):
    assert fire(kind) == ("fired", None)


@pytest.mark.parametrize("kind", KINDS)
def test_status_an_inactive_trigger_does_not_fire(fire, kind):
    verdict, reason = fire(kind, prepare=lambda t: trigger_disable(trigger=t))

    assert verdict == "refused"
    assert reason in (None, "The trigger is inactive.")  # the scheduler never claims it
    assert kind == "scheduled" or reason == "The trigger is inactive."


@pytest.mark.parametrize("kind", KINDS)
def test_status_a_frozen_trigger_does_not_fire(fire, kind):
    def freeze(trigger):
        trigger_freeze(trigger_id=trigger.pk, reason="Frozen.", at=timezone.now())

    verdict, reason = fire(kind, prepare=freeze)

    assert verdict == "refused"
    assert kind == "scheduled" or reason == "The trigger is failed."
    assert not Execution.objects.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_single_execution_a_trigger_that_has_fired_fires_no_more(fire, kind):
    outcome = fire(kind, prepare=lambda t: _history(t, 1), is_single_execution=True)

    assert outcome == ("refused", "This single-execution trigger has already fired.")


@pytest.mark.parametrize("kind", KINDS)
def test_single_execution_test_runs_and_refused_firings_do_not_use_it_up(fire, kind):
    def history(trigger):
        firing.execution_create_test(trigger=trigger)
        _history(trigger, 1, status=ExecutionStatus.CANCELLED)

    outcome = fire(kind, prepare=history, is_single_execution=True, overlap_policy="allow")

    assert outcome == ("fired", None)


@pytest.mark.parametrize("kind", KINDS)
def test_limit_per_hour(fire, kind):
    outcome = fire(kind, prepare=lambda t: _history(t, 2), max_executions_per_hour=2)

    assert outcome == ("refused", "Over the limit of 2 executions per hour.")


@pytest.mark.parametrize("kind", KINDS)
def test_limit_per_day(fire, kind):
    def history(trigger):
        _history(trigger, 2, age=timedelta(hours=3))

    outcome = fire(kind, prepare=history, max_executions_per_day=2, max_executions_per_hour=5)

    assert outcome == ("refused", "Over the limit of 2 executions per day.")


@pytest.mark.parametrize("kind", KINDS)
def test_limit_an_execution_older_than_the_window_does_not_count(fire, kind):
    def history(trigger):
        _history(trigger, 2, age=timedelta(minutes=61))

    assert fire(kind, prepare=history, max_executions_per_hour=2) == ("fired", None)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("scheduled", ("refused", "An earlier execution is still pending (overlap policy skip).")),
        # The overlap policy decides cron slots only (policies.overlap_refusal): an event
        # carries its own data and a person asked for the run, so neither is dropped.
        ("run_now", ("fired", None)),
        ("webhook", ("fired", None)),
    ],
)
def test_overlap_decides_slots_and_only_slots(fire, kind, expected):
    def pending(trigger):
        _history(trigger, 1, status=ExecutionStatus.PENDING)

    assert fire(kind, prepare=pending, overlap_policy="skip") == expected


@pytest.mark.parametrize("kind", KINDS)
def test_freezing_failures_of_any_kind_freeze_the_trigger(fire, kind, settings):
    settings.TRIGGER_FAILURE_THRESHOLD = 2
    settings.EXECUTION_RUNNER = "http"
    settings.AGENT_RUNTIME_URL = "http://127.0.0.1:9/"  # nothing listens: every attempt fails
    settings.AGENT_RUNTIME_SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    def one_earlier_failure(trigger):
        Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=1)

    assert fire(kind, prepare=one_earlier_failure, max_retries=0) == ("fired", None)
    execution = Execution.objects.get(status=ExecutionStatus.PENDING)
    lifecycle.execution_run(execution_id=execution.execution_id)

    trigger = execution.trigger
    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.FAILED
    assert trigger.error_message.startswith("Frozen after 2 consecutive failed executions")


@pytest.mark.parametrize("kind", KINDS)
def test_freezing_a_trigger_s_own_max_failure_count_wins(fire, kind, settings, monkeypatch):
    settings.TRIGGER_FAILURE_THRESHOLD = 5

    def failing_runner(execution, abandoned):
        raise lifecycle.RunnerError("The agent is down.")

    monkeypatch.setattr(lifecycle, "run_agent", failing_runner)

    def one_earlier_failure(trigger):
        Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=1)

    outcome = fire(kind, prepare=one_earlier_failure, max_retries=0,
                   config={"max_failure_count": 2})  # fmt: skip
    assert outcome == ("fired", None)
    execution = Execution.objects.get(status=ExecutionStatus.PENDING)
    lifecycle.execution_run(execution_id=execution.execution_id)

    trigger = execution.trigger
    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.FAILED
    assert trigger.error_message.startswith("Frozen after 2 consecutive failed executions")


def test_one_time_a_schedule_s_date_is_used_up_by_its_slot_not_by_a_run_now(acme, make_trigger):
    """The one-time rule decides slots only: a person's "run now" is an extra run."""
    trigger = make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="allow",
                           config={"date": "2030-01-02"})  # fmt: skip
    assert _run_now(None, trigger) == ("fired", None)

    slot = datetime(2030, 1, 2, 0, 0, tzinfo=UTC)
    fire_due_triggers(now=slot + timedelta(seconds=1))
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=slot + timedelta(minutes=1))
    fire_due_triggers(now=slot + timedelta(minutes=1, seconds=1))

    assert [(e.execution_type, e.status, e.error_message) for e in
            Execution.objects.order_by("created_at", "id")] == [
        ("manual", "pending", ""),
        ("scheduled", "pending", ""),
        ("scheduled", "cancelled", "Not run: This one-time schedule has already run."),
    ]  # fmt: skip


def test_a_slot_s_firing_reads_each_schedule_key_of_the_config_once(
    acme, make_trigger, monkeypatch
):
    """The scheduler reads the trigger's schedule keys once per firing and hands them to
    every rule that needs them (window, one-time date, jitter), instead of each rule
    parsing ``config`` again."""
    trigger = make_trigger(acme, "cron", cron_expression="0 9 * * *", overlap_policy="allow",
                           config={"date": "2030-01-02", "expirationDate": "2030-01-05",
                                   "jitter_seconds": 60})  # fmt: skip
    reads: list[str] = []
    lenient = config_keys._lenient

    def counted(read, config, key, off):
        reads.append(key)
        return lenient(read, config, key, off)

    monkeypatch.setattr(config_keys, "_lenient", counted)
    trigger.refresh_from_db()
    fire_due_triggers(now=trigger.next_fire_at + timedelta(seconds=1))

    assert Execution.objects.get(trigger=trigger).scheduled_for == datetime(
        2030, 1, 2, 9, 0, tzinfo=UTC
    )
    assert sorted(reads) == ["date", "expirationDate", "jitter_seconds"]
