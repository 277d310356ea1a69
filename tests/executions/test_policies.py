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
