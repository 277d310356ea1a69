"""An index of a trigger's failed and cancelled executions, newest first (the management
API's invocations filtered by status=failed). Built CONCURRENTLY on PostgreSQL, so
ingestion goes on while it is built."""

from django.db import migrations, models
from django.db.models import Q

INDEX = models.Index(
    fields=["trigger", "-created_at"],
    name="execution_trigger_failures",
    condition=Q(status__in=["failed", "cancelled"]),
)


def create(apps, schema_editor):
    model = apps.get_model("executions", "Execution")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("executions", "Execution")
    schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("executions", "0004_execution_is_test")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="execution", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
