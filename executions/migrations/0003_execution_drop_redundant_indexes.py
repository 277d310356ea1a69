"""Drop the single-column indexes on Execution.tenant_id and trigger_id.

The composite indexes ``execution_tenant_recent`` and ``execution_trigger_history`` lead with
those columns and serve every lookup by them; the single-column ones (three with PostgreSQL's
``varchar_pattern_ops`` copy for ``tenant_id``) only cost every INSERT.

Django's own AlterField for ``db_index=False`` would drop and re-add the foreign keys, which
validates them over the whole table under an exclusive lock; here the state changes and the
database only loses the indexes, found by introspection (their names are hashes) and dropped
CONCURRENTLY on PostgreSQL, so ingestion goes on during the migration.
"""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = (["tenant_id"], ["trigger_id"])


def drop_single_column_indexes(apps, schema_editor):
    connection = schema_editor.connection
    table = apps.get_model("executions", "Execution")._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    concurrently = "CONCURRENTLY " if connection.vendor == "postgresql" else ""
    for name, info in constraints.items():
        if (
            info["index"]
            and info["columns"] in COLUMNS
            and not (info["unique"] or info["primary_key"] or info["foreign_key"])
        ):
            quoted = schema_editor.quote_name(name)
            schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {quoted}")


def create_single_column_indexes(apps, schema_editor):
    model = apps.get_model("executions", "Execution")
    for field in ("tenant", "trigger"):
        schema_editor.add_index(model, models.Index(fields=[field], name=f"execution_{field}_id"))


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("accounts", "0002_agent_runner"),
        ("executions", "0002_execution_available_at"),
        ("triggers", "0002_trigger_misfire_and_overlap_policies"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="execution",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executions",
                        to="accounts.tenant",
                    ),
                ),
                migrations.AlterField(
                    model_name="execution",
                    name="trigger",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executions",
                        to="triggers.trigger",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_single_column_indexes, create_single_column_indexes)
            ],
        )
    ]
