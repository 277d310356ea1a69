"""A polling trigger's state, in a one-to-one table beside its Trigger row (docs/polling.md)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('triggers', '0011_bind_outside_accounts'),
    ]

    operations = [
        migrations.CreateModel(
            name='PollingState',
            fields=[
                ('trigger', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='polling_state', serialize=False, to='triggers.trigger')),
                ('interval_seconds', models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)])),
                ('next_poll_at', models.DateTimeField(blank=True, null=True)),
                ('cursor', models.JSONField(blank=True, null=True)),
                ('last_polled_at', models.DateTimeField(blank=True, null=True)),
                ('last_status', models.CharField(blank=True, choices=[('ok', 'OK'), ('failed', 'Failed'), ('throttled', 'Rate limited')], max_length=16)),
                ('last_result', models.TextField(blank=True)),
                ('failures', models.PositiveIntegerField(default=0)),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('next_poll_at__isnull', False)), fields=['next_poll_at'], name='polling_state_due')],
            },
        ),
    ]
