from django.db import migrations, models


def mark_earlier_manual_runs_as_tests(apps, schema_editor):
    # Until now every manual execution was a test run ("test" was the only manual path).
    Execution = apps.get_model("executions", "Execution")
    Execution.objects.filter(execution_type="manual").update(is_test=True)


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0003_execution_drop_redundant_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="is_test",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_earlier_manual_runs_as_tests, migrations.RunPython.noop),
    ]
