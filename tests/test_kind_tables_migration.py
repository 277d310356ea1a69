"""Trigger's delivery-kind state moves to its kinds' tables (polling/migrations/0002,
webhooks/migrations/0002, then triggers/migrations/0012 and 0013 drop the columns): with a
trigger of every kind in one database, each value arrives in its kind's table, the core
stays on Trigger, and no trigger gets a row of a kind it is not."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from polling.models import PollingState
from triggers.models import Trigger
from webhooks.models import WebhookEndpoint

BEFORE = [("webhooks", None), ("polling", None), ("triggers", "0011_bind_outside_accounts")]
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.fixture
def old_apps():
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_every_kind_s_rows_move_without_loss(old_apps):
    tenant = old_apps.get_model("accounts", "Tenant").objects.create(id="acme", name="Acme")
    secret = old_apps.get_model("accounts", "Credential").objects.create(
        tenant=tenant, name="slack", encrypted_value="ciphertext"
    )
    old = old_apps.get_model("triggers", "Trigger").objects

    def make(name, **fields):
        new = uuid.uuid4()
        core = {"tenant": tenant, "uuid": new, "public_id": name, "name": name, "config": {}}
        return old.create(**{**core, **fields}, execution_count=7, max_retries=2).pk

    kinds = {
        "cron": make("cron", provider_trigger_id="cron", cron_expression="0 3 * * *",
                     next_fire_at=AT, timezone="Europe/Paris"),
        "webhook": make("webhook", provider_trigger_id="webhook", webhook_token="tok-1",
                        webhook_path="/news", webhook_method="GET",
                        input_schema={"type": "object"}, message_template="{{ body }}",
                        output_transform={"jmespath": "a"}),
        "app_event": make("app_event", origin="provider", provider_id="slack",
                          provider_trigger_id="on_message", webhook_token="tok-2",
                          signature_verification={"preset": "slack"}, signing_secret=secret,
                          config={"team_id": "T1"}),
        "polling": make("polling", origin="provider", provider_id="rss",
                        provider_trigger_id="on_new_item",
                        config={"url": "https://example.com/feed"},
                        poll_interval_seconds=300, next_poll_at=AT,
                        cursor_data={"last_item_id": "b"}, last_polled_at=AT,
                        last_poll_status="ok", last_poll_result="1 new item(s) fired",
                        poll_failures=1),
        "file_system": make("file_system", provider_trigger_id="file_system",
                            config={"path": "/srv/in", "patterns": ["*.csv"]}),
    }  # fmt: skip
    before = {pk: (row.config, row.execution_count) for pk, row in old.in_bulk().items()}

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert Trigger.objects.count() == len(kinds)
    for pk, (config, executions) in before.items():
        trigger = Trigger.objects.get(pk=pk)
        assert (trigger.config, trigger.execution_count, trigger.max_retries) == (
            config, executions, 2,
        )  # fmt: skip
    cron = Trigger.objects.get(pk=kinds["cron"])
    assert (cron.cron_expression, cron.timezone, cron.next_fire_at) == (
        "0 3 * * *", "Europe/Paris", AT,
    )  # fmt: skip
    hook = WebhookEndpoint.objects.get(pk=kinds["webhook"])
    assert (hook.token, hook.path, hook.method, hook.message_template) == (
        "tok-1", "/news", "GET", "{{ body }}",
    )  # fmt: skip
    assert (hook.input_schema, hook.output_transform) == ({"type": "object"}, {"jmespath": "a"})
    event = WebhookEndpoint.objects.get(pk=kinds["app_event"])
    assert (event.token, event.signing_secret_id) == ("tok-2", secret.pk)
    assert event.signature_verification == {"preset": "slack"}
    state = PollingState.objects.get(pk=kinds["polling"])
    assert (state.interval_seconds, state.next_poll_at, state.cursor) == (
        300, AT, {"last_item_id": "b"},
    )  # fmt: skip
    assert (state.last_polled_at, state.last_status, state.failures) == (AT, "ok", 1)
    assert state.last_result == "1 new item(s) fired"
    assert set(WebhookEndpoint.objects.values_list("pk", flat=True)) == {
        kinds["webhook"], kinds["app_event"],
    }  # fmt: skip
    assert set(PollingState.objects.values_list("pk", flat=True)) == {kinds["polling"]}
