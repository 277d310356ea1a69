"""The frontend API's real client: ``space_id``, ``webhook_method``, the trigger's own webhook
secret (``webhook_secret_digest``) and the count of filtered deliveries.

``webhook_method`` and ``webhook_secret_digest`` decide how a delivery is answered, so a
change to either must give ``delivery_version`` a new value like the settings of 0003 do:
the database trigger is created again with them in its column list (frozen here, as
migrations are; tests/triggers/test_delivery_version.py checks it covers
webhooks.delivery._VERSIONED_FIELDS). ``filtered_count`` is a counter and is not in it.
"""

from django.db import migrations, models

OLD_COLUMNS = (
    "tenant_id", "max_retries", "webhook_token", "webhook_path", "provider_id",
    "provider_trigger_id", "authentication", "signature_verification", "input_schema",
    "message_template", "output_transform", "config", "signing_secret_id",
)  # fmt: skip
VERSIONED_COLUMNS = (*OLD_COLUMNS, "webhook_method", "webhook_secret_digest")


def _statements(columns: tuple[str, ...]) -> tuple[str, ...]:
    def row(prefix: str) -> str:
        return "ROW({})".format(", ".join(f"{prefix}.{column}" for column in columns))

    # One statement each: a parameterised execute cannot run several.
    return (
        "DROP TRIGGER delivery_version ON triggers_trigger",
        f"""
CREATE OR REPLACE FUNCTION triggers_trigger_delivery_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Whatever the writer sent, the database decides the version.
    IF TG_OP = 'INSERT' OR {row("NEW")} IS DISTINCT FROM {row("OLD")} THEN
        NEW.delivery_version := gen_random_uuid();
    ELSE
        NEW.delivery_version := OLD.delivery_version;
    END IF;
    RETURN NEW;
END $$""",
        # Not on an UPDATE that sets delivery_version alone: that is how the next one says so.
        f"""
CREATE TRIGGER delivery_version BEFORE INSERT OR UPDATE OF {", ".join(columns)}
    ON triggers_trigger FOR EACH ROW EXECUTE FUNCTION triggers_trigger_delivery_version()""",
    )


def version_new_columns(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements(VERSIONED_COLUMNS):
            schema_editor.execute(statement)


def version_old_columns(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements(OLD_COLUMNS):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0006_trigger_connection_and_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="trigger",
            name="filtered_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="trigger",
            name="space_id",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="trigger",
            name="webhook_method",
            field=models.CharField(
                choices=[
                    ("GET", "GET"),
                    ("POST", "POST"),
                    ("PUT", "PUT"),
                    ("PATCH", "PATCH"),
                    ("DELETE", "DELETE"),
                ],
                default="POST",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="trigger",
            name="webhook_secret_digest",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(version_new_columns, version_old_columns),
    ]
