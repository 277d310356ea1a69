"""Every trigger's webhook settings copied from its Trigger columns to its WebhookEndpoint,
and WebhookEndpoint.delivery_version kept by PostgreSQL from now on.

Copied: every trigger with any webhook state (a token, a path, a method other than POST, its
own secret, authentication, signature settings, a signing secret, an input schema, a message
template, an output transform), whatever its type, with its delivery_version. The database
triggers of triggers/migrations/0003 (0007's column list) give way to ones on the endpoint: it gets a new random
version on INSERT, and on UPDATE when one of ENDPOINT_COLUMNS changes, when one of its
trigger's TRIGGER_COLUMNS changes, and when the value of its signing secret changes, whoever
writes (services, the admin, ``QuerySet.update``, raw SQL). The counters a worker updates
after each run do not change it. The column lists are frozen here, as migrations are;
tests/webhooks/test_delivery_version.py checks that they cover webhooks.delivery's.
"""

import importlib

from django.db import migrations

ENDPOINT_COLUMNS = (
    "token", "path", "method", "secret_digest", "authentication", "signature_verification",
    "signing_secret_id", "input_schema", "message_template", "output_transform",
)  # fmt: skip
TRIGGER_COLUMNS = ("tenant_id", "max_retries", "provider_id", "provider_trigger_id", "config")
# Each endpoint column and the Trigger column it comes from.
COPIED = {
    "trigger_id": "id", "token": "webhook_token", "path": "webhook_path",
    "method": "webhook_method", "secret_digest": "webhook_secret_digest",
    "authentication": "authentication", "signature_verification": "signature_verification",
    "signing_secret_id": "signing_secret_id", "input_schema": "input_schema",
    "message_template": "message_template", "output_transform": "output_transform",
    "delivery_version": "delivery_version",
}  # fmt: skip
HAS_WEBHOOK_STATE = """
    webhook_token IS NOT NULL OR webhook_path IS NOT NULL OR webhook_method <> 'POST'
    OR webhook_secret_digest <> '' OR authentication IS NOT NULL
    OR signature_verification IS NOT NULL OR signing_secret_id IS NOT NULL
    OR input_schema IS NOT NULL OR message_template <> '' OR output_transform IS NOT NULL"""


def _row(prefix: str, columns: tuple[str, ...]) -> str:
    return "ROW({})".format(", ".join(f"{prefix}.{column}" for column in columns))


# One statement each: a parameterised execute cannot run several.
CREATE = (
    f"""
CREATE FUNCTION webhooks_endpoint_delivery_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Whatever the writer sent, the database decides the version.
    IF TG_OP = 'INSERT'
        OR {_row("NEW", ENDPOINT_COLUMNS)} IS DISTINCT FROM {_row("OLD", ENDPOINT_COLUMNS)} THEN
        NEW.delivery_version := gen_random_uuid();
    ELSE
        NEW.delivery_version := OLD.delivery_version;
    END IF;
    RETURN NEW;
END $$""",
    # Not on an UPDATE that sets delivery_version alone: that is how the others say so.
    f"""
CREATE TRIGGER delivery_version BEFORE INSERT OR UPDATE OF {", ".join(ENDPOINT_COLUMNS)}
    ON webhooks_webhookendpoint FOR EACH ROW
    EXECUTE FUNCTION webhooks_endpoint_delivery_version()""",
    """
CREATE FUNCTION webhooks_trigger_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhooks_webhookendpoint SET delivery_version = gen_random_uuid()
        WHERE trigger_id = NEW.id;
    RETURN NULL;
END $$""",
    f"""
CREATE TRIGGER webhook_delivery_version AFTER UPDATE OF {", ".join(TRIGGER_COLUMNS)}
    ON triggers_trigger FOR EACH ROW
    WHEN ({_row("OLD", TRIGGER_COLUMNS)} IS DISTINCT FROM {_row("NEW", TRIGGER_COLUMNS)})
    EXECUTE FUNCTION webhooks_trigger_changed()""",
    """
CREATE FUNCTION webhooks_signing_secret_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhooks_webhookendpoint SET delivery_version = gen_random_uuid()
        WHERE signing_secret_id = NEW.id;
    RETURN NULL;
END $$""",
    """
CREATE TRIGGER webhook_signing_secret_changed AFTER UPDATE OF encrypted_value
    ON accounts_credential FOR EACH ROW
    WHEN (OLD.encrypted_value IS DISTINCT FROM NEW.encrypted_value)
    EXECUTE FUNCTION webhooks_signing_secret_changed()""",
)

DROP = (
    "DROP TRIGGER webhook_signing_secret_changed ON accounts_credential",
    "DROP FUNCTION webhooks_signing_secret_changed()",
    "DROP TRIGGER webhook_delivery_version ON triggers_trigger",
    "DROP FUNCTION webhooks_trigger_changed()",
    "DROP TRIGGER delivery_version ON webhooks_webhookendpoint",
    "DROP FUNCTION webhooks_endpoint_delivery_version()",
)


def _trigger_columns_versioning():
    return importlib.import_module("triggers.migrations.0003_trigger_delivery_version")


def _trigger_columns_since_0007():
    return importlib.import_module("triggers.migrations.0007_trigger_frontend_client_fields")


def copy_forward(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        for statement in _trigger_columns_versioning().DROP:
            schema_editor.execute(statement)
    schema_editor.execute(
        f"INSERT INTO webhooks_webhookendpoint ({', '.join(COPIED)}) "
        f"SELECT {', '.join(COPIED.values())} FROM triggers_trigger WHERE {HAS_WEBHOOK_STATE}"
    )
    if postgresql:
        for statement in CREATE:
            schema_editor.execute(statement)


def copy_back(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        for statement in DROP:
            schema_editor.execute(statement)
    assignments = ", ".join(
        f"{column} = e.{field}" for field, column in COPIED.items() if column != "id"
    )
    schema_editor.execute(
        f"UPDATE triggers_trigger SET {assignments} FROM webhooks_webhookendpoint e "
        "WHERE e.trigger_id = triggers_trigger.id"
    )
    schema_editor.execute("DELETE FROM webhooks_webhookendpoint")
    if postgresql:
        # As triggers/migrations/0011 left them: 0003's, with 0007's column list.
        for statement in _trigger_columns_versioning().CREATE:
            schema_editor.execute(statement)
        since_0007 = _trigger_columns_since_0007()
        for statement in since_0007._statements(since_0007.VERSIONED_COLUMNS):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("triggers", "0011_bind_outside_accounts"),
    ]

    operations = [migrations.RunPython(copy_forward, copy_back)]
