"""Polling triggers (docs/polling.md): when each polls next (``next_poll_at``, with the poll
due index the poller claims from), how its last poll went, its failure streak; the interval
column takes the 1 s a config may ask for (POLLING_MIN_INTERVAL_SECONDS bounds it at run
time). None of these columns is one a webhook delivery relies on (delivery_version, 0003).
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('triggers', '0007_trigger_frontend_client_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='trigger',
            name='last_poll_result',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='trigger',
            name='last_poll_status',
            field=models.CharField(blank=True, choices=[('ok', 'OK'), ('failed', 'Failed'), ('throttled', 'Rate limited')], max_length=16),
        ),
        migrations.AddField(
            model_name='trigger',
            name='last_polled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='trigger',
            name='next_poll_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='trigger',
            name='poll_failures',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='trigger',
            name='poll_interval_seconds',
            field=models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.AddIndex(
            model_name='trigger',
            index=models.Index(condition=models.Q(('next_poll_at__isnull', False), ('status', 'active')), fields=['next_poll_at'], name='trigger_poll_due'),
        ),
    ]
