"""webhooks/migrations/0002 copies every trigger's webhook state from its Trigger columns to
its WebhookEndpoint, and triggers/migrations/0012 drops them: nothing is lost."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from webhooks.models import WebhookEndpoint

BEFORE = [("webhooks", None), ("triggers", "0011_bind_outside_accounts")]
SCHEMA = {"type": "object", "required": ["action"]}
TRANSFORM = {"jmespath": "issue.title"}
AUTHENTICATION = {"type": "bearer", "credentialReferenceId": "api-token"}
SIGNATURE = {"preset": "github"}


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def old_apps():
    try:
        yield migrate(BEFORE)
    finally:
        migrate(latest())


@pytest.mark.django_db(transaction=True)
def test_it_moves_every_kind_of_trigger_s_webhook_state_without_loss(old_apps):
    tenant = old_apps.get_model("accounts", "Tenant").objects.create(id="acme", name="Acme")
    secret = old_apps.get_model("accounts", "Credential").objects.create(
        tenant=tenant, name="github", encrypted_value="ciphertext"
    )
    old_trigger = old_apps.get_model("triggers", "Trigger").objects

    def common():
        new = uuid.uuid4()
        return {"tenant": tenant, "uuid": new, "public_id": str(new), "config": {}}

    webhook = old_trigger.create(
        **common(), name="hook", provider_trigger_id="webhook",
        webhook_token="tok-1", webhook_path="/github/issues", webhook_method="GET",
        webhook_secret_digest="d" * 64, authentication=AUTHENTICATION,
        signature_verification=SIGNATURE, signing_secret=secret, input_schema=SCHEMA,
        message_template="{{ body.action }}", output_transform=TRANSFORM,
    )  # fmt: skip
    app_event = old_trigger.create(
        **common(), name="stripe", origin="provider",
        provider_id="stripe", provider_trigger_id="on_customer_created",
        webhook_token="tok-2", signature_verification={"preset": "stripe"},
        signing_secret=secret, connection=secret,
    )  # fmt: skip
    cron = old_trigger.create(
        **common(), name="cron", provider_trigger_id="cron",
        cron_expression="*/5 * * * *",
    )  # fmt: skip
    versions = dict(old_trigger.values_list("pk", "delivery_version"))

    migrate(latest())

    moved = WebhookEndpoint.objects.get(pk=webhook.pk)
    assert (moved.token, moved.path, moved.method, moved.secret_digest) == (
        "tok-1", "/github/issues", "GET", "d" * 64,
    )  # fmt: skip
    assert (moved.authentication, moved.signature_verification) == (AUTHENTICATION, SIGNATURE)
    assert (moved.input_schema, moved.output_transform) == (SCHEMA, TRANSFORM)
    assert moved.message_template == "{{ body.action }}"
    assert moved.signing_secret_id == secret.pk
    assert moved.delivery_version == versions[webhook.pk]
    if connection.vendor == "postgresql":  # kept by its database triggers
        assert moved.delivery_version is not None
    event = WebhookEndpoint.objects.get(pk=app_event.pk)
    assert (event.token, event.path, event.method) == ("tok-2", None, "POST")
    assert event.signature_verification == {"preset": "stripe"}
    assert event.signing_secret_id == secret.pk and event.input_schema is None
    assert not WebhookEndpoint.objects.filter(pk=cron.pk).exists()
    assert WebhookEndpoint.objects.count() == 2


@pytest.mark.postgresql_only  # the old database triggers come back: PostgreSQL's
@pytest.mark.django_db(transaction=True)
def test_migrating_back_puts_the_state_on_the_trigger_again(old_apps):
    tenant = old_apps.get_model("accounts", "Tenant").objects.create(id="acme", name="Acme")
    old_trigger = old_apps.get_model("triggers", "Trigger").objects
    hook = old_trigger.create(
        tenant=tenant, uuid=uuid.uuid4(), config={}, name="hook",
        provider_trigger_id="webhook", webhook_token="tok-1", webhook_path="/news",
        input_schema=SCHEMA,
    )  # fmt: skip
    migrate(latest())

    back = migrate(BEFORE).get_model("triggers", "Trigger").objects.get(pk=hook.pk)

    assert (back.webhook_token, back.webhook_path, back.input_schema) == ("tok-1", "/news", SCHEMA)
    assert back.delivery_version is not None
    # The old database triggers are back, with every column they watched then.
    old_trigger.filter(pk=hook.pk).update(webhook_method="PUT")
    assert old_trigger.get(pk=hook.pk).delivery_version != back.delivery_version
