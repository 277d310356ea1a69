"""The firing rules as pure functions (no database): order, facts, and the SQL of the fast path."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from executions import policies
from executions.choices import ExecutionType
from executions.policies import FiringFacts

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NO_HISTORY = FiringFacts()


def trigger(**settings) -> SimpleNamespace:
    defaults = {
        "status": "active",
        "overlap_policy": "skip",
        "max_executions_per_hour": None,
        "max_executions_per_day": None,
        "is_single_execution": False,
    }
    return SimpleNamespace(**{**defaults, **settings})


def refusal(execution_type=ExecutionType.WEBHOOK, facts=NO_HISTORY, **settings):
    found = policies.firing_refusal(
        trigger(**settings), execution_type=execution_type, facts=facts, now=NOW
    )
    return found and found.rule


def test_it_allows_a_firing_when_no_rule_is_in_force():
    assert refusal() is None


def test_the_first_refusing_rule_wins_in_the_documented_order():
    everything = FiringFacts(has_fired=True, pending=1, hour_count=9, day_count=9)
    settings = {"is_single_execution": True, "max_executions_per_hour": 1}
    slot = ExecutionType.SCHEDULED

    assert refusal(slot, everything, status="inactive", **settings) == "status"
    assert refusal(slot, everything, **settings) == "single_execution"
    assert refusal(slot, everything, max_executions_per_hour=1) == "overlap"
    assert refusal(slot, everything, overlap_policy="allow", **settings) == "single_execution"
    assert refusal(slot, everything, overlap_policy="allow", max_executions_per_hour=1) == (
        "limit_per_hour"
    )


@pytest.mark.parametrize(
    ("policy", "pending", "running", "refused"),
    [
        ("skip", 0, 0, False),
        ("skip", 1, 0, True),
        ("skip", 0, 1, True),
        ("buffer_one", 0, 1, False),
        ("buffer_one", 1, 1, True),
        ("allow", 5, 5, False),
    ],
)
def test_overlap_refuses_a_slot_per_its_policy(policy, pending, running, refused):
    facts = FiringFacts(pending=pending, running=running)

    found = refusal(ExecutionType.SCHEDULED, facts, overlap_policy=policy)

    assert (found == "overlap") is refused
    for kind in (ExecutionType.WEBHOOK, ExecutionType.MANUAL, ExecutionType.FILE_SYSTEM):
        assert refusal(kind, facts, overlap_policy=policy) is None  # slots only


def test_a_limit_refusal_says_when_its_window_frees():
    facts = FiringFacts(hour_count=2, oldest_in_hour=NOW - timedelta(minutes=50))

    found = policies.limit_refusal(2, None, facts, NOW)

    assert found.rule == "limit_per_hour"
    assert found.reason == "Over the limit of 2 executions per hour."
    assert found.retry_after_seconds == 601


def test_facts_after_a_firing_count_it_in_every_window():
    facts = FiringFacts().after_firing(NOW)

    assert facts == FiringFacts(
        has_fired=True, pending=1, hour_count=1, oldest_in_hour=NOW, day_count=1,
        oldest_in_day=NOW,
    )  # fmt: skip


def test_needs_history_and_the_fast_path_sql_come_from_one_table():
    assert not policies.needs_history(trigger())
    for name, off in policies.HISTORY_RULE_FIELDS.items():
        on = 1 if off is None else True
        assert policies.needs_history(trigger(**{name: on})), name

    sql = policies.history_free_sql("t", lambda name: f"col_{name}")

    assert sql == (
        "t.col_max_executions_per_hour IS NULL AND t.col_max_executions_per_day IS NULL "
        "AND NOT t.col_is_single_execution"
    )


def test_freezing_and_completing_after_a_run():
    assert not policies.freezes_after_failure(consecutive_failures=4, threshold=5)
    assert policies.freezes_after_failure(consecutive_failures=5, threshold=5)
    assert policies.completes_trigger(is_single_execution=True, counted=True)
    assert not policies.completes_trigger(is_single_execution=True, counted=False)
    assert not policies.completes_trigger(is_single_execution=False, counted=True)


def test_a_buffered_slot_waits_for_the_running_one_and_nothing_else_does():
    assert policies.start_waits_for_running("buffer_one", ExecutionType.SCHEDULED)
    assert not policies.start_waits_for_running("buffer_one", ExecutionType.WEBHOOK)
    assert not policies.start_waits_for_running("skip", ExecutionType.SCHEDULED)


@pytest.mark.parametrize(
    ("policy", "waits"), [("skip", True), ("buffer_one", True), ("allow", False)]
)
def test_a_backfills_slots_run_in_turn_unless_the_policy_allows_overlap(policy, waits):
    assert policies.start_waits_for_running(policy, ExecutionType.SCHEDULED, True) is waits


# -- issue 20: a schedule's dates and a trigger's own freezing threshold ------------------------


def test_a_one_time_schedule_fires_one_slot_between_single_execution_and_overlap():
    fired = FiringFacts(one_time_fired=True, pending=1)
    slot = ExecutionType.SCHEDULED

    assert refusal(slot, FiringFacts(one_time_fired=False)) is None
    assert refusal(slot, fired) == "one_time"
    assert refusal(slot, FiringFacts(has_fired=True, one_time_fired=True),
                   is_single_execution=True) == "single_execution"  # fmt: skip
    # Not a one-time schedule (None): a firing never marks it as one.
    assert FiringFacts().after_firing(NOW).one_time_fired is None
    assert FiringFacts(one_time_fired=False).after_firing(NOW).one_time_fired is True


def test_the_failure_threshold_is_the_trigger_s_own_when_it_has_one():
    assert policies.failure_threshold(trigger(config={"max_failure_count": 2}), default=5) == 2
    assert policies.failure_threshold(trigger(config={}), default=5) == 5
    # A value stored unchecked (raw SQL) never breaks the engine: the default applies.
    assert policies.failure_threshold(trigger(config={"max_failure_count": "2"}), default=5) == 5


def test_a_one_time_run_completes_its_trigger():
    assert policies.completes_trigger(is_single_execution=False, counted=True, one_time_run=True)
    assert not policies.completes_trigger(
        is_single_execution=False, counted=False, one_time_run=True
    )


def plan(next_fire_at, now, ends_at=None, policy="run_once"):
    return policies.plan_due_slots(
        cron_expression="30 14 * * *", timezone_name="UTC", next_fire_at=next_fire_at,
        now=now, misfire_policy=policy, misfire_window_seconds=3600 * 72, grace_seconds=60,
        ends_at=ends_at,
    )  # fmt: skip


DAY = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
END = datetime(2026, 12, 4, tzinfo=UTC)  # the end of 2026-12-03


def test_no_slot_at_or_after_the_window_s_end_is_due():
    last = plan(DAY, DAY + timedelta(seconds=1), ends_at=END)
    assert (last.run, last.next_fire_at, last.ended) == ([DAY], END, False)  # wake at the end

    closing = plan(END, END + timedelta(seconds=1), ends_at=END)
    assert (closing.run, closing.next_fire_at, closing.ended) == ([], None, True)

    assert plan(END, END - timedelta(seconds=1), ends_at=END).run == []  # not due yet


@pytest.mark.parametrize("policy", ["run_once", "run_all", "skip"])
def test_a_closed_window_catches_nothing_up(policy):
    late = plan(DAY - timedelta(days=1), DAY + timedelta(days=2), ends_at=END, policy=policy)

    assert late.run == [] and late.ended
    assert late.skipped == [DAY - timedelta(days=1), DAY]


def test_a_window_s_on_time_last_slot_still_runs_just_after_it_closes():
    tight = plan(DAY, DAY + timedelta(seconds=30), ends_at=DAY + timedelta(seconds=10))
    assert (tight.run, tight.ended) == ([DAY], True)


def test_without_a_window_nothing_changes():
    assert plan(DAY, DAY + timedelta(seconds=1)) == policies.SlotPlan(
        run=[DAY], next_fire_at=DAY + timedelta(days=1)
    )
