"""Trigger.delivery_version, kept by PostgreSQL.

A web process remembers the webhook triggers it has served and stores the next delivery with
one conditional INSERT that checks the trigger is unchanged (webhooks/delivery.py). It
compared a SHA-256 of the trigger's settings, computed by PostgreSQL in every INSERT: 0.1 ms
of database CPU per delivery, a fifth of the INSERT. Now it compares this column. The
database gives it a new random value on INSERT. It gives a new one on UPDATE when one of
VERSIONED_COLUMNS changes, and when the value of the trigger's signing secret changes. So
every writer keeps it right: services, the admin, ``QuerySet.update`` and raw SQL. The
counters a worker updates after each run do not change it.

The column list is frozen here, as migrations are; tests/triggers/test_delivery_version.py
checks that it covers webhooks.delivery._VERSIONED_FIELDS.
"""

from django.db import migrations, models

VERSIONED_COLUMNS = (
    "tenant_id", "max_retries", "webhook_token", "webhook_path", "provider_id",
    "provider_trigger_id", "authentication", "signature_verification", "input_schema",
    "message_template", "output_transform", "config", "signing_secret_id",
)  # fmt: skip


def _row(prefix: str) -> str:
    return "ROW({})".format(", ".join(f"{prefix}.{column}" for column in VERSIONED_COLUMNS))


# One statement each: a parameterised execute cannot run several.
CREATE = (
    f"""
CREATE FUNCTION triggers_trigger_delivery_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Whatever the writer sent, the database decides the version.
    IF TG_OP = 'INSERT' OR {_row("NEW")} IS DISTINCT FROM {_row("OLD")} THEN
        NEW.delivery_version := gen_random_uuid();
    ELSE
        NEW.delivery_version := OLD.delivery_version;
    END IF;
    RETURN NEW;
END $$""",
    # Not on an UPDATE that sets delivery_version alone: that is how the next one says so.
    f"""
CREATE TRIGGER delivery_version BEFORE INSERT OR UPDATE OF {", ".join(VERSIONED_COLUMNS)}
    ON triggers_trigger FOR EACH ROW EXECUTE FUNCTION triggers_trigger_delivery_version()""",
    """
CREATE FUNCTION triggers_signing_secret_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE triggers_trigger SET delivery_version = gen_random_uuid()
        WHERE signing_secret_id = NEW.id;
    RETURN NULL;
END $$""",
    """
CREATE TRIGGER signing_secret_changed AFTER UPDATE OF encrypted_value ON accounts_credential
    FOR EACH ROW WHEN (OLD.encrypted_value IS DISTINCT FROM NEW.encrypted_value)
    EXECUTE FUNCTION triggers_signing_secret_changed()""",
    "UPDATE triggers_trigger SET delivery_version = gen_random_uuid()",
)

DROP = (
    "DROP TRIGGER signing_secret_changed ON accounts_credential",
    "DROP FUNCTION triggers_signing_secret_changed()",
    "DROP TRIGGER delivery_version ON triggers_trigger",
    "DROP FUNCTION triggers_trigger_delivery_version()",
)


def create_database_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def drop_database_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_agent_runner"),
        ("triggers", "0002_trigger_misfire_and_overlap_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="trigger",
            name="delivery_version",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(create_database_triggers, drop_database_triggers),
    ]
