"""A dispatch pass reads what is in flight from the small execution_in_flight index, and each
lane's first waiting executions from execution_waiting, however many executions wait behind
them (executions/dispatch.py): every webhook's commit runs a pass."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from executions import dispatch
from executions.inserts import insert_executions

pytestmark = pytest.mark.postgresql_only  # PostgreSQL's planner and its statistics


def _plan(sql: str, params: dict | None = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _pass_plan(sql: str, params: dict) -> str:
    """The plan of one of a pass's reads of waiting executions, as the pass runs it."""
    with transaction.atomic(), connection.cursor() as cursor, dispatch._in_index_order(cursor):
        return _plan(sql, params)


def _rows_params(tenant, triggers) -> dict:
    return {"tenants": [tenant.pk] * len(triggers), "triggers": [t.pk for t in triggers],
            "now": timezone.now(), "per_lane": 4}  # fmt: skip


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


def _flood_after_statistics(tenant, trigger) -> None:
    """Statistics of a table where nothing waits (the usual state), then a flood."""
    finished = {"tenant_id": tenant.pk, "trigger_id": trigger.pk, "execution_type": "webhook",
                "status": "completed", "dispatched_at": timezone.now()}  # fmt: skip
    insert_executions([finished] * 2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE executions_execution")
    _backlog(tenant, trigger, waiting=5000, in_flight=3)


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
    _flood_after_statistics(acme, trigger)

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


def test_it_reads_each_lanes_first_waiting_in_index_order_behind_a_backlog(acme, make_trigger):
    # The state bench/soak.py met once webhooks came in faster than the worker ran them: each
    # pass read all of a lane's 2,400 waiting through execution_unfinished and sorted them
    # (40 ms a pass at 48,000 waiting), the passes took a core, the calm tenant waited.
    triggers = [make_trigger(acme, "webhook") for _ in range(2)]
    for trigger in triggers:
        _backlog(acme, trigger, waiting=5000, in_flight=2)
    _forget_statistics()

    plan = _pass_plan(dispatch._ROWS_SQL, _rows_params(acme, triggers))

    assert "Index Scan using execution_waiting on" in plan, plan
    assert "execution_unfinished" not in plan, plan


def test_it_reads_in_index_order_with_statistics_from_before_a_flood(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    _flood_after_statistics(acme, trigger)

    plan = _pass_plan(dispatch._ROWS_SQL, _rows_params(acme, [trigger]))

    assert "Index Scan using execution_waiting on" in plan, plan


def test_a_keyed_lanes_waiting_are_read_from_their_own_index(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    row = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook"}
    insert_executions([{**row, "concurrency_key": f"k{n % 50}"} for n in range(5000)])
    _forget_statistics()

    plan = _pass_plan(
        dispatch._KEYED_ROWS_SQL,
        {"triggers": [trigger.pk], "now": timezone.now(), "max_keys": 96, "per_key": 2},
    )

    assert "execution_waiting_keyed" in plan, plan
    assert "execution_unfinished" not in plan, plan


def test_the_planner_settings_are_restored_after_the_reads(db):
    with transaction.atomic(), connection.cursor() as cursor:
        with dispatch._in_index_order(cursor):
            cursor.execute("SELECT current_setting('enable_sort'), current_setting('jit')")
            assert cursor.fetchone() == ("off", "off")
        cursor.execute("SELECT current_setting('enable_sort')")
        assert cursor.fetchone() == ("on",)


def test_an_error_in_the_reads_rolls_the_settings_back_with_its_savepoint(db):
    with transaction.atomic(), connection.cursor() as cursor:
        with (
            pytest.raises(DatabaseError, match="division by zero"),
            transaction.atomic(),
            dispatch._in_index_order(cursor),
        ):
            cursor.execute("SELECT 1 / 0")
        cursor.execute("SELECT current_setting('enable_sort'), current_setting('jit')")
        assert cursor.fetchone() == ("on", "on")
