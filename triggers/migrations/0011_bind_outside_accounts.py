"""Bind the outside accounts that existing provider triggers name (a Slack ``team_id``, a
GitHub ``repository``'s owner, a Stripe ``account_id``) to the tenant of the oldest trigger
naming each: the first tenant to name an account owns it. A later trigger of another tenant
naming the same account no longer receives its events."""

from django.db import migrations
from django.utils import timezone

from triggers import catalog


def bind(apps, schema_editor):
    Trigger = apps.get_model("triggers", "Trigger")
    OutsideAccount = apps.get_model("accounts", "OutsideAccount")
    providers = ("slack", "github", "stripe")
    triggers = (
        Trigger.objects.filter(origin="provider", provider_id__in=providers)
        .order_by("created_at", "id")
        .values_list("uuid", "tenant_id", "provider_id", "config")
    )
    for trigger_uuid, tenant_id, provider_id, config in triggers.iterator():
        key = catalog.account_key(provider_id)
        value = config.get(key.config_key) if isinstance(config, dict) else None
        account_id = key.of_config(value) if isinstance(value, str) and value else None
        if account_id:
            OutsideAccount.objects.get_or_create(
                provider_id=provider_id,
                account_id=account_id,
                defaults={
                    "tenant_id": tenant_id,
                    "bound_by": f"trigger {trigger_uuid}",
                    "bound_at": timezone.now(),
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_outside_account"),
        ("triggers", "0010_trigger_max_concurrency"),
    ]

    operations = [migrations.RunPython(bind, migrations.RunPython.noop)]
