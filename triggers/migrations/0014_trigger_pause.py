"""A pause with a note, until a time: who paused a trigger, when, why and until when, and the
index Beat reads to resume the pauses that have ended (docs/scheduling.md)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_outside_account'),
        ('triggers', '0013_webhook_columns_moved'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='trigger',
            name='pause_note',
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='trigger',
            name='paused_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='trigger',
            name='paused_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='trigger',
            name='paused_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='trigger',
            index=models.Index(condition=models.Q(('paused_by__isnull', False)), fields=['paused_by'], name='trigger_paused_by'),
        ),
        migrations.AddIndex(
            model_name='trigger',
            index=models.Index(condition=models.Q(('paused_until__isnull', False), ('status', 'inactive')), fields=['paused_until'], name='trigger_pause_ends'),
        ),
    ]
