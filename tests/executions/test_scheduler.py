"""The cron scheduler on PostgreSQL: once per slot, misfires, overlap, limits, single runs."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.scheduler import fire_due_triggers, seconds_until_next_due
from triggers import config_keys
from triggers.choices import TriggerStatus
from triggers.models import Trigger

SLOT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _due(trigger: Trigger, slot: datetime = SLOT, **fields) -> Trigger:
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=slot, **fields)
    trigger.refresh_from_db()
    return trigger


def _history(trigger: Trigger) -> list[tuple[str, str]]:
    executions = Execution.objects.filter(trigger=trigger).order_by("scheduled_for")
    return [(e.scheduled_for.strftime("%H:%M"), e.status) for e in executions]


@pytest.fixture
def every_minute(acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="allow")
    return _due(trigger)


def test_a_due_trigger_fires_once_and_its_next_slot_is_armed(every_minute):
    report = fire_due_triggers(now=SLOT + timedelta(seconds=1))
    again = fire_due_triggers(now=SLOT + timedelta(seconds=2))

    assert (report.fired, again.fired) == (1, 0)
    execution = Execution.objects.get(trigger=every_minute)
    assert execution.execution_type == ExecutionType.SCHEDULED
    assert execution.status == ExecutionStatus.PENDING
    assert execution.scheduled_for == SLOT
    assert execution.input_data == {"scheduled_for": SLOT.isoformat()}
    every_minute.refresh_from_db()
    assert every_minute.next_fire_at == SLOT + timedelta(minutes=1)


def test_a_slot_fired_already_is_not_fired_again_by_a_stale_scheduler(every_minute):
    """The unique (trigger, slot) constraint: a scheduler that read an old next_fire_at
    (here: put back by hand) inserts nothing and does not fail."""
    fire_due_triggers(now=SLOT)
    _due(every_minute)

    fire_due_triggers(now=SLOT)

    assert Execution.objects.filter(trigger=every_minute).count() == 1


def test_inactive_and_not_yet_due_triggers_are_left_alone(acme, make_trigger, every_minute):
    later = _due(
        make_trigger(acme, "cron", cron_expression="* * * * *"), SLOT + timedelta(minutes=5)
    )
    off = _due(
        make_trigger(acme, "cron", cron_expression="* * * * *"), status=TriggerStatus.INACTIVE
    )

    report = fire_due_triggers(now=SLOT)

    assert report.triggers == 1
    assert not Execution.objects.filter(trigger__in=[later, off]).exists()


@pytest.fixture
def hourly(acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy="allow")
    return _due(trigger, SLOT - timedelta(hours=3))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", [("09:00", "cancelled")]),
        ("run_once", [("08:00", "cancelled"), ("09:00", "pending")]),
        ("run_all", [("07:00", "pending"), ("08:00", "pending"), ("09:00", "pending")]),
    ],
)
def test_missed_slots_follow_the_misfire_policy_and_skips_are_recorded(hourly, policy, expected):
    """Back at 09:30 after being down since before 07:00: three slots were missed."""
    _due(hourly, SLOT - timedelta(hours=3), misfire_policy=policy, misfire_window_seconds=4 * 3600)

    fire_due_triggers(now=SLOT - timedelta(minutes=30))

    assert _history(hourly) == expected
    hourly.refresh_from_db()
    assert hourly.next_fire_at == SLOT


def test_an_on_time_slot_runs_whatever_the_misfire_policy(every_minute):
    _due(every_minute, SLOT - timedelta(minutes=4), misfire_policy="skip")

    fire_due_triggers(now=SLOT - timedelta(seconds=90))  # 09:56, 09:57 late; 09:58 on time

    assert _history(every_minute) == [("09:57", "cancelled"), ("09:58", "pending")]


def test_skipped_slots_are_recorded_with_the_reason_and_the_list(hourly):
    _due(hourly, SLOT - timedelta(hours=10), misfire_policy="skip")

    fire_due_triggers(now=SLOT - timedelta(minutes=30))

    record = Execution.objects.get(trigger=hourly)
    assert record.status == ExecutionStatus.CANCELLED
    assert record.input_data["skipped_count"] == 10
    assert record.input_data["skipped_slots"][0] == (SLOT - timedelta(hours=10)).isoformat()
    assert "10 slot(s)" in record.error_message
    assert "misfire policy skip" in record.error_message
    assert record.created_at == record.completed_at  # never ends before it begins


def test_run_all_catches_up_only_within_its_window(every_minute):
    _due(
        every_minute,
        SLOT - timedelta(minutes=10),
        misfire_policy="run_all",
        misfire_window_seconds=240,
    )

    fire_due_triggers(now=SLOT)

    statuses = [status for _, status in _history(every_minute)]
    assert statuses.count("pending") == 5  # 09:56 … 10:00, within 4 minutes of now
    assert statuses.count("cancelled") == 1  # one record for the six older slots


@pytest.mark.parametrize(
    ("policy", "unfinished", "expected_status"),
    [
        ("skip", ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED),
        ("skip", ExecutionStatus.PENDING, ExecutionStatus.CANCELLED),
        ("allow", ExecutionStatus.RUNNING, ExecutionStatus.PENDING),
        ("buffer_one", ExecutionStatus.RUNNING, ExecutionStatus.PENDING),
        ("buffer_one", ExecutionStatus.PENDING, ExecutionStatus.CANCELLED),
    ],
)
def test_overlap_policy_decides_a_slot_while_an_earlier_run_is_unfinished(
    every_minute, policy, unfinished, expected_status
):
    _due(every_minute, overlap_policy=policy)
    Execution.objects.create(
        tenant=every_minute.tenant,
        trigger=every_minute,
        execution_type=ExecutionType.MANUAL,
        status=unfinished,
    )

    fire_due_triggers(now=SLOT)

    slot_execution = Execution.objects.get(trigger=every_minute, scheduled_for=SLOT)
    assert slot_execution.status == expected_status
    if expected_status == ExecutionStatus.CANCELLED:
        assert f"overlap policy {policy}" in slot_execution.error_message


def test_a_slot_over_the_hourly_limit_is_recorded_not_run(every_minute):
    _due(
        every_minute,
        SLOT - timedelta(minutes=2),
        max_executions_per_hour=2,
        misfire_policy="run_all",
    )

    fire_due_triggers(now=SLOT)

    assert _history(every_minute) == [
        ("09:58", "pending"),
        ("09:59", "pending"),
        ("10:00", "cancelled"),
    ]
    refused = Execution.objects.get(trigger=every_minute, scheduled_for=SLOT)
    assert refused.error_message == "Not run: Over the limit of 2 executions per hour."
    assert refused.created_at == refused.completed_at


def test_a_single_execution_trigger_fires_once_then_stops_being_scheduled(every_minute):
    _due(every_minute, is_single_execution=True)

    fire_due_triggers(now=SLOT)
    every_minute.refresh_from_db()

    assert every_minute.next_fire_at is None
    assert Execution.objects.filter(trigger=every_minute).count() == 1


def test_seconds_until_next_due_reads_the_earliest_armed_trigger(every_minute):
    assert seconds_until_next_due(now=SLOT - timedelta(seconds=30)) == 30.0
    Trigger.objects.update(status=TriggerStatus.INACTIVE)
    assert seconds_until_next_due(now=SLOT) is None


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_fire_each_slot_exactly_once(acme, make_trigger, race):
    """Two passes racing over 300 due triggers (SKIP LOCKED splits them between the two)."""
    triggers = [make_trigger(acme, "cron", cron_expression="* * * * *") for _ in range(300)]
    Trigger.objects.filter(pk__in=[t.pk for t in triggers]).update(next_fire_at=SLOT)

    reports = race(lambda: fire_due_triggers(now=SLOT + timedelta(seconds=1), batch_size=20), 2)

    assert [type(report).__name__ for report in reports] == ["FiringReport"] * 2
    assert Execution.objects.count() == 300
    assert Execution.objects.values("trigger_id").distinct().count() == 300
    assert sum(report.fired for report in reports) == 300


def test_jitter_runs_each_slot_a_fixed_offset_late_and_records_it(acme, make_trigger):
    """config.jitter_seconds: next_fire_at is the slot plus the trigger's own offset, the
    slot is claimed only then, and the execution keeps the slot and says how late it ran."""
    herd = [
        make_trigger(acme, "cron", cron_expression="0 9 * * *", config={"jitter_seconds": 600})
        for _ in range(40)
    ]
    slot = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    offsets = {}
    for trigger in herd:
        offset = config_keys.jitter_offset(trigger.config, trigger.uuid)
        assert offset is not None
        offsets[trigger.pk] = offset
        _due(trigger, slot + offset)
    assert all(timedelta(0) <= o <= timedelta(seconds=600) for o in offsets.values())
    assert len(set(offsets.values())) > 20  # spread, not one shared offset

    middle = slot + timedelta(seconds=300)
    early = {t.pk for t in herd if offsets[t.pk] <= timedelta(seconds=300)}
    first = fire_due_triggers(now=middle)
    assert first.fired == len(early)
    assert set(Execution.objects.values_list("trigger_id", flat=True)) == early

    fire_due_triggers(now=slot + timedelta(seconds=601))
    for trigger in herd:
        execution = Execution.objects.get(trigger=trigger)
        assert execution.scheduled_for == slot
        assert execution.input_data["jitter_seconds"] == offsets[trigger.pk].total_seconds()
        trigger.refresh_from_db()
        assert trigger.next_fire_at == slot + timedelta(days=1) + offsets[trigger.pk]


@pytest.mark.parametrize("value", [-1, 3601, "60", 1.5, True])
def test_a_bad_jitter_is_refused_naming_the_key(acme, make_trigger, value):
    with pytest.raises(ValidationError) as refused:
        make_trigger(acme, "cron", config={"jitter_seconds": value})
    assert "config.jitter_seconds" in refused.value.message_dict
