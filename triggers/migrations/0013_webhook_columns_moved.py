"""A webhook's settings and delivery_version moved to webhooks.WebhookEndpoint, copied there
(with the database triggers that keep the version) by webhooks/migrations/0002."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0012_trigger_polling_state_moved"),
        ("webhooks", "0002_copy_webhook_settings"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="trigger",
            name="trigger_signing_secret",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="authentication",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="delivery_version",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="input_schema",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="message_template",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="output_transform",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="signature_verification",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="signing_secret",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="webhook_method",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="webhook_path",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="webhook_secret_digest",
        ),
        migrations.RemoveField(
            model_name="trigger",
            name="webhook_token",
        ),
    ]
