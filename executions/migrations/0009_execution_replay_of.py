# The ops console (docs/ops-console.md): replays linked to the execution they replay, and the
# admin's list across tenants, newest first.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('executions', '0008_execution_dispatched_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='execution',
            name='replay_of',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replays', to='executions.execution'),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['-created_at', '-id'], name='execution_newest'),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(condition=models.Q(('replay_of__isnull', False)), fields=['replay_of'], name='execution_replays'),
        ),
    ]
