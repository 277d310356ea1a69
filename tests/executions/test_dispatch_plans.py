"""A dispatch pass reads what is in flight from the small execution_in_flight index, however
many executions wait behind it (executions/dispatch.py): every webhook's commit runs a pass."""

import pytest
from django.db import connection
from django.utils import timezone

from executions import dispatch
from executions.inserts import insert_executions

pytestmark = pytest.mark.postgresql_only  # PostgreSQL's planner and its statistics


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _backlog(tenant, trigger, *, waiting: int, in_flight: int) -> None:
    row = {"tenant_id": tenant.pk, "trigger_id": trigger.pk, "execution_type": "webhook"}
    insert_executions([row] * waiting)
    insert_executions([{**row, "dispatched_at": timezone.now()}] * in_flight)


def _forget_statistics() -> None:
    """The table as PostgreSQL sees it before autovacuum first analyzes it (a new database,
    bench/webhooks.py): no statistics, no row count; rolled back with the test."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'executions_execution'::regclass")
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = "
            "'executions_execution'::regclass OR oid IN (SELECT indexrelid FROM pg_index "
            "WHERE indrelid = 'executions_execution'::regclass)"
        )


def test_it_counts_in_flight_from_its_index_behind_a_backlog(acme, make_trigger):
    # The state bench/webhooks.py met: before, each pass read all 40,000 waiting (19 ms).
    _backlog(acme, make_trigger(acme, "webhook"), waiting=40000, in_flight=64)
    _forget_statistics()

    for sql in (dispatch._IN_FLIGHT_TOTAL_SQL, dispatch._IN_FLIGHT_COUNTS_SQL):
        plan = _plan(sql)
        assert "execution_in_flight" in plan, plan
        assert "execution_unfinished" not in plan, plan


def test_it_still_does_with_statistics_from_before_a_flood(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    finished = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook",
                "status": "completed", "dispatched_at": timezone.now()}  # fmt: skip
    insert_executions([finished] * 2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE executions_execution")
    _backlog(acme, trigger, waiting=5000, in_flight=3)

    for sql in (dispatch._IN_FLIGHT_TOTAL_SQL, dispatch._IN_FLIGHT_COUNTS_SQL):
        assert "execution_in_flight" in _plan(sql)


def test_the_counts_are_those_in_flight(acme, globex, make_trigger):
    trigger = make_trigger(acme, "webhook")
    _backlog(acme, trigger, waiting=4, in_flight=2)
    other = make_trigger(globex, "webhook")
    _backlog(globex, other, waiting=1, in_flight=1)

    by_tenant, by_trigger, _, _ = dispatch._in_flight_counts()

    assert dispatch._in_flight_total() == 3
    assert by_tenant == {acme.pk: 2, globex.pk: 1}
    assert by_trigger == {trigger.pk: 2, other.pk: 1}
