"""A paused trigger resumes by itself at its until-time, on Beat's pass, exactly once; the
slots a schedule missed while paused follow its misfire policy."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.scheduler import fire_due_triggers, seconds_until_next_due
from polling.models import PollingState
from providers.services import project_trigger_create
from triggers import services
from triggers.choices import TriggerStatus
from triggers.models import Trigger

SLOT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _paused(trigger: Trigger, *, at: datetime, until: datetime, **fields) -> Trigger:
    """Arrange a pause that began at ``at`` and ends at ``until`` (both in the test's past
    or future as it needs; the services refuse an until-time in the real past)."""
    Trigger.objects.filter(pk=trigger.pk).update(
        status=TriggerStatus.INACTIVE,
        next_fire_at=None,
        paused_at=at,
        paused_by=trigger.created_by,
        pause_note="Paused for the test",
        paused_until=until,
        **fields,
    )
    trigger.refresh_from_db()
    return trigger


def _early_in_a_minute(*, with_seconds_left: float) -> None:
    """Returns once at least ``with_seconds_left`` seconds of the current minute are left
    (at once, or a moment after the next minute began)."""
    now = timezone.now()
    left = 60 - now.second - now.microsecond / 1e6
    if left < with_seconds_left:
        time.sleep(left + 0.2)


def _history(trigger: Trigger) -> list[tuple[str, str]]:
    executions = Execution.objects.filter(trigger=trigger).order_by("scheduled_for")
    return [(e.scheduled_for.strftime("%H:%M"), e.status) for e in executions]


@pytest.fixture
def every_minute(acme, make_trigger):
    return make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="allow")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # Paused 09:50:30 until 10:00:30: the slots 09:51 … 10:00 were missed while paused.
        ("skip", [("10:00", "cancelled")]),
        ("run_once", [("09:59", "cancelled"), ("10:00", "pending")]),
        ("run_all", [(f"{t[:2]}:{t[2:]}", "pending") for t in
                     ("0951", "0952", "0953", "0954", "0955", "0956", "0957", "0958",
                      "0959", "1000")]),
    ],
)  # fmt: skip
def test_a_resumed_schedule_decides_the_slots_it_missed_by_its_misfire_policy(
    every_minute, policy, expected
):
    _paused(
        every_minute,
        at=SLOT - timedelta(minutes=9, seconds=30),
        until=SLOT + timedelta(seconds=30),
        misfire_policy=policy,
    )

    report = fire_due_triggers(now=SLOT + timedelta(seconds=40))

    assert report.resumed == 1
    assert _history(every_minute) == expected
    every_minute.refresh_from_db()
    assert every_minute.status == TriggerStatus.ACTIVE
    assert (every_minute.paused_at, every_minute.pause_note, every_minute.paused_until) == (
        None, "", None,
    )  # fmt: skip
    assert every_minute.next_fire_at == SLOT + timedelta(minutes=1)


def test_the_slots_missed_while_paused_are_recorded_as_such(every_minute):
    _paused(
        every_minute,
        at=SLOT - timedelta(minutes=2, seconds=30),
        until=SLOT + timedelta(seconds=30),
        misfire_policy="skip",
    )

    fire_due_triggers(now=SLOT + timedelta(seconds=31))

    skipped = Execution.objects.get(trigger=every_minute)
    assert skipped.status == ExecutionStatus.CANCELLED
    assert skipped.input_data["skipped_count"] == 3
    assert skipped.error_message.startswith("Missed while paused: 3 slot(s) from ")
    assert "(misfire policy skip)" in skipped.error_message


def test_a_slot_after_the_pause_ended_is_on_time_when_beat_comes_late(every_minute):
    """Beat reached the resume 50 s after the pause ended: the 10:01 slot came after the
    pause, within the grace, so it runs whatever the policy; 10:00 was missed while paused."""
    _paused(
        every_minute,
        at=SLOT - timedelta(seconds=30),
        until=SLOT + timedelta(seconds=20),
        misfire_policy="skip",
    )

    fire_due_triggers(now=SLOT + timedelta(minutes=1, seconds=10))

    assert _history(every_minute) == [("10:00", "cancelled"), ("10:01", "pending")]


def test_a_pause_that_has_not_ended_is_left_alone_and_beat_wakes_for_its_end(every_minute):
    _paused(every_minute, at=SLOT - timedelta(hours=1), until=SLOT + timedelta(minutes=10))

    report = fire_due_triggers(now=SLOT)

    assert report.resumed == 0
    every_minute.refresh_from_db()
    assert every_minute.status == TriggerStatus.INACTIVE
    assert not Execution.objects.exists()
    assert seconds_until_next_due(now=SLOT) == 600.0


def test_a_pause_without_an_end_never_resumes_by_itself(every_minute):
    _paused(every_minute, at=SLOT - timedelta(hours=1), until=None)

    assert fire_due_triggers(now=SLOT + timedelta(days=365)).resumed == 0
    every_minute.refresh_from_db()
    assert every_minute.status == TriggerStatus.INACTIVE


def test_a_trigger_enabled_by_hand_meanwhile_is_not_resumed_again(alice, every_minute):
    # Beat's pass comes after the pause's end but before the next slot of the schedule, so
    # only a resumption (not a firing) could move next_fire_at.
    # (Seconds of margin each way: a loaded CI machine may stall between two statements.)
    _early_in_a_minute(with_seconds_left=20)
    start = timezone.now()
    services.trigger_disable(
        trigger=every_minute, updated_by=alice, paused_until=start + timedelta(seconds=8)
    )
    services.trigger_enable(trigger=every_minute, updated_by=alice)
    armed = Trigger.objects.get(pk=every_minute.pk).next_fire_at
    assert armed > start + timedelta(seconds=10)

    report = fire_due_triggers(now=start + timedelta(seconds=10))

    assert report.resumed == 0
    assert Trigger.objects.get(pk=every_minute.pk).next_fire_at == armed


def test_a_webhook_trigger_simply_becomes_active_again(acme, make_trigger):
    hook = _paused(make_trigger(acme, "webhook"), at=SLOT - timedelta(hours=1), until=SLOT)

    report = fire_due_triggers(now=SLOT + timedelta(seconds=1))

    assert (report.resumed, report.fired) == (1, 0)
    hook.refresh_from_db()
    assert hook.status == TriggerStatus.ACTIVE
    assert hook.next_fire_at is None
    assert not Execution.objects.exists()


def test_a_resumed_polling_trigger_polls_at_once(acme_project, alice, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True
    trigger, _ = project_trigger_create(
        project=acme_project, provider_id="rss", trigger_id="on_new_item",
        trigger_config={"url": "http://127.0.0.1:9/feed", "polling_frequency": 60000},
        connection_id=None, user=alice,
    )  # fmt: skip
    services.trigger_enable(trigger=trigger, updated_by=alice)
    until = timezone.now() + timedelta(minutes=5)
    services.trigger_disable(trigger=trigger, updated_by=alice, paused_until=until)
    assert PollingState.objects.get(trigger_id=trigger.pk).next_poll_at is None

    fire_due_triggers(now=until)

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.ACTIVE
    assert PollingState.objects.get(trigger_id=trigger.pk).next_poll_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_resume_each_pause_once_and_fire_its_slots_once(
    acme, make_trigger, race
):
    triggers = [
        make_trigger(acme, "cron", cron_expression="* * * * *", misfire_policy="run_once")
        for _ in range(60)
    ]
    for trigger in triggers:
        _paused(trigger, at=SLOT - timedelta(minutes=5, seconds=30), until=SLOT)

    reports = race(lambda: fire_due_triggers(now=SLOT + timedelta(seconds=5), batch_size=7), 2)

    assert [type(report).__name__ for report in reports] == ["FiringReport"] * 2
    assert sum(report.resumed for report in reports) == 60
    assert Trigger.objects.filter(status=TriggerStatus.ACTIVE).count() == 60
    run = Execution.objects.filter(status=ExecutionStatus.PENDING)
    assert run.count() == 60
    assert set(run.values_list("scheduled_for", flat=True)) == {SLOT}


def test_pause_and_resume_across_a_beat_restart(start_engine, wait_for, acme, alice, make_trigger):
    """Paused until a near time while one Beat runs; that Beat stops before the time; a new
    Beat, started after it, resumes the triggers and applies their misfire policies to the
    slots missed during the pause (arranged to have begun ten minutes ago)."""
    once = make_trigger(acme, "cron", cron_expression="* * * * *", misfire_policy="run_once")
    skip = make_trigger(acme, "cron", cron_expression="* * * * *", misfire_policy="skip")
    engine = {"SCHEDULER_MAX_SLEEP_SECONDS": "1"}
    first = start_engine("beat", **engine)
    for trigger in (once, skip):
        services.trigger_disable(
            trigger=trigger,
            updated_by=alice,
            pause_note="Deploy",
            paused_until=timezone.now() + timedelta(hours=1),
        )
    began = timezone.now() - timedelta(minutes=10)
    Trigger.objects.filter(pk__in=[once.pk, skip.pk]).update(paused_at=began)

    first.stop()
    # The pause ends and the new Beat resumes within one minute: a slot between the two
    # would be on time at the resume, and run_once runs no catch-up beside an on-time slot
    # (executions/policies.py), whatever the minute the test happens to start in.
    _early_in_a_minute(with_seconds_left=40)
    # The pause now ends in two seconds, while no Beat runs (however long the first one took
    # to start and stop on a busy machine).
    until = timezone.now() + timedelta(seconds=2)
    Trigger.objects.filter(pk__in=[once.pk, skip.pk]).update(paused_until=until)
    assert set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.INACTIVE}
    wait_for(lambda: timezone.now() > until, timeout=30)
    second = start_engine("beat", **engine)

    wait_for(
        lambda: set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.ACTIVE},
        timeout=30,
        message="the new Beat did not resume the paused triggers",
    )
    # Logged once the pass has committed: a moment after the statuses above can be read.
    wait_for(
        lambda: re.search(r"2 paused triggers resumed", second.log()),
        timeout=10,
        message="the new Beat did not log the resume",
    )
    ran = Execution.objects.exclude(status=ExecutionStatus.CANCELLED)
    # The every-minute slots before ``until`` were missed while paused: run_once runs one of
    # them, skip none (a slot after ``until`` would be on time for both, and is not counted).
    assert ran.filter(trigger=once, scheduled_for__lte=until).count() == 1
    assert ran.filter(trigger=skip, scheduled_for__lte=until).count() == 0
    skipped = Execution.objects.get(trigger=skip, error_message__startswith="Missed while")
    assert skipped.error_message.startswith("Missed while paused:")
    assert skipped.input_data["skipped_count"] >= 10
    for trigger in Trigger.objects.all():
        assert (trigger.paused_by, trigger.pause_note, trigger.paused_until) == (None, "", None)
