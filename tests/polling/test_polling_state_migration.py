"""The move of a polling trigger's state from triggers_trigger to polling.PollingState
(polling/migrations/0002, triggers/migrations/0012): every value arrives, a trigger of
another kind gets no row, and reversed, the state goes back into the trigger's columns."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("polling", "0001_initial"), ("triggers", "0011_bind_outside_accounts")]
CURSOR = {"seen_ids": ["b", "a"], "last_item_id": "b", "etag": '"v2"'}
POLLED_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NEXT_POLL_AT = datetime(2026, 12, 1, 8, 5, tzinfo=UTC)


def migrate(targets):
    """Migrate to ``targets``; the historical apps as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before_the_move():
    """The historical apps before the copy; the database goes back to the latest
    migrations afterwards, whatever the test did."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate(latest())


def make_triggers(apps) -> tuple[int, int]:
    Tenant = apps.get_model("accounts", "Tenant")
    Trigger = apps.get_model("triggers", "Trigger")
    tenant = Tenant.objects.create(id="acme", name="Acme")
    polled = Trigger.objects.create(
        tenant=tenant, public_id="feed", name="feed", origin="provider", provider_id="rss",
        provider_trigger_id="on_new_item", config={"url": "https://example.com/feed"},
        poll_interval_seconds=300, next_poll_at=NEXT_POLL_AT, cursor_data=CURSOR,
        last_polled_at=POLLED_AT, last_poll_status="failed",
        last_poll_result="The source answered 500.", poll_failures=2,
    )  # fmt: skip
    cron = Trigger.objects.create(
        tenant=tenant,
        public_id="nightly",
        name="nightly",
        provider_trigger_id="cron",
        cron_expression="0 3 * * *",
    )
    return polled.pk, cron.pk


@pytest.mark.django_db(transaction=True)
def test_it_moves_every_polling_value_and_nothing_else(before_the_move):
    polled_id, cron_id = make_triggers(before_the_move)

    apps = migrate(latest())

    PollingState = apps.get_model("polling", "PollingState")
    state = PollingState.objects.get(trigger_id=polled_id)
    assert (state.interval_seconds, state.next_poll_at, state.cursor) == (
        300, NEXT_POLL_AT, CURSOR,
    )  # fmt: skip
    assert (state.last_polled_at, state.last_status, state.last_result, state.failures) == (
        POLLED_AT, "failed", "The source answered 500.", 2,
    )  # fmt: skip
    assert not PollingState.objects.filter(trigger_id=cron_id).exists()
    trigger_columns = {f.name for f in apps.get_model("triggers", "Trigger")._meta.fields}
    assert not {"cursor_data", "next_poll_at", "poll_failures"} & trigger_columns


@pytest.mark.django_db(transaction=True)
def test_it_moves_the_state_back_when_reversed(before_the_move):
    polled_id, cron_id = make_triggers(before_the_move)
    migrate(latest())

    apps = migrate(BEFORE)

    Trigger = apps.get_model("triggers", "Trigger")
    assert Trigger.objects.values(
        "poll_interval_seconds", "next_poll_at", "cursor_data", "last_polled_at",
        "last_poll_status", "last_poll_result", "poll_failures",
    ).get(pk=polled_id) == {
        "poll_interval_seconds": 300, "next_poll_at": NEXT_POLL_AT, "cursor_data": CURSOR,
        "last_polled_at": POLLED_AT, "last_poll_status": "failed",
        "last_poll_result": "The source answered 500.", "poll_failures": 2,
    }  # fmt: skip
    assert Trigger.objects.get(pk=cron_id).cursor_data is None
    assert not apps.get_model("polling", "PollingState").objects.exists()
