"""A polling trigger's state moved to the polling app's one-to-one table (polling.PollingState,
copied there by polling/migrations/0002): the columns and the poll due index go. Reversed,
they come back and polling's 0002 copies the state back into them."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('triggers', '0011_bind_outside_accounts'),
        ('polling', '0002_copy_polling_state'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='trigger',
            name='trigger_poll_due',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='cursor_data',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='last_poll_result',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='last_poll_status',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='last_polled_at',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='next_poll_at',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='poll_failures',
        ),
        migrations.RemoveField(
            model_name='trigger',
            name='poll_interval_seconds',
        ),
    ]
