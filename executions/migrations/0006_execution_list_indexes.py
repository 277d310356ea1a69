"""The executions' list indexes cover the lists' whole order (created_at, id) and carry the
tenant, so a deep page's keys are read from the index alone (api/pagination.py). Each new
index is built before its predecessor is dropped, CONCURRENTLY on PostgreSQL, so ingestion
and the lists go on during the migration."""

from django.db import migrations, models
from django.db.models import Q

FAILED = Q(status__in=["failed", "cancelled"])

REPLACED = [
    (
        models.Index(fields=["trigger", "-created_at"], name="execution_trigger_history"),
        models.Index(
            fields=["trigger", "-created_at", "-id"],
            include=["tenant"],
            name="execution_trigger_newest",
        ),
    ),
    (
        models.Index(fields=["tenant", "-created_at"], name="execution_tenant_recent"),
        models.Index(fields=["tenant", "-created_at", "-id"], name="execution_tenant_newest"),
    ),
    (
        models.Index(
            fields=["trigger", "-created_at"], name="execution_trigger_failures", condition=FAILED
        ),
        models.Index(
            fields=["trigger", "-created_at", "-id"],
            include=["tenant"],
            name="execution_trigger_failed",
            condition=FAILED,
        ),
    ),
]


def _swap(schema_editor, model, old: models.Index, new: models.Index) -> None:
    concurrently = (
        {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    )
    schema_editor.add_index(model, new, **concurrently)
    schema_editor.remove_index(model, old, **concurrently)


def forwards(apps, schema_editor):
    model = apps.get_model("executions", "Execution")
    for old, new in REPLACED:
        _swap(schema_editor, model, old, new)


def backwards(apps, schema_editor):
    model = apps.get_model("executions", "Execution")
    for old, new in REPLACED:
        _swap(schema_editor, model, new, old)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("executions", "0005_execution_trigger_failures")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                operation
                for old, new in REPLACED
                for operation in (
                    migrations.RemoveIndex(model_name="execution", name=old.name),
                    migrations.AddIndex(model_name="execution", index=new),
                )
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
