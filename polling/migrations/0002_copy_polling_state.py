"""Copy each polling trigger's state from its Trigger row into PollingState, before
triggers/migrations/0012 drops those columns: every trigger of a polling type, and any other
whose polling columns hold something, so nothing is lost. Reversed, the state goes back into
the trigger's columns (triggers/migrations/0012 reversed has made them again)."""

from django.db import migrations
from django.db.models import Q

from triggers import catalog
from triggers.choices import Delivery

_BATCH = 1000
# Trigger column -> PollingState field.
_MOVED = {
    "poll_interval_seconds": "interval_seconds",
    "next_poll_at": "next_poll_at",
    "cursor_data": "cursor",
    "last_polled_at": "last_polled_at",
    "last_poll_status": "last_status",
    "last_poll_result": "last_result",
    "poll_failures": "failures",
}


def _has_polling_state(Trigger) -> Q:
    types = Trigger.objects.values_list("provider_id", "provider_trigger_id").distinct()
    polling_types = Q(pk__in=[])
    for provider_id, trigger_id in types:
        entry = catalog.trigger_type_get(provider_id, trigger_id)
        if entry is not None and entry.delivery == Delivery.POLLING:
            polling_types |= Q(provider_id=provider_id, provider_trigger_id=trigger_id)
    return (
        polling_types
        | Q(poll_interval_seconds__isnull=False)
        | Q(next_poll_at__isnull=False)
        | Q(cursor_data__isnull=False)
        | Q(last_polled_at__isnull=False)
        | ~Q(last_poll_status="")
        | ~Q(last_poll_result="")
        | Q(poll_failures__gt=0)
    )


def copy_forward(apps, schema_editor):
    Trigger = apps.get_model("triggers", "Trigger")
    PollingState = apps.get_model("polling", "PollingState")
    rows = (
        Trigger.objects.filter(_has_polling_state(Trigger))
        .order_by("pk")
        .values_list("pk", *_MOVED)
    )
    batch = []
    for pk, *values in rows.iterator(chunk_size=_BATCH):
        batch.append(PollingState(trigger_id=pk, **dict(zip(_MOVED.values(), values, strict=True))))
        if len(batch) == _BATCH:
            PollingState.objects.bulk_create(batch)
            batch = []
    PollingState.objects.bulk_create(batch)


def copy_back(apps, schema_editor):
    Trigger = apps.get_model("triggers", "Trigger")
    PollingState = apps.get_model("polling", "PollingState")
    for state in PollingState.objects.order_by("pk").iterator(chunk_size=_BATCH):
        Trigger.objects.filter(pk=state.trigger_id).update(
            **{column: getattr(state, field) for column, field in _MOVED.items()}
        )
    PollingState.objects.all().delete()  # copied back: applied again, 0002 copies anew


class Migration(migrations.Migration):

    dependencies = [
        ('polling', '0001_initial'),
        ('triggers', '0011_bind_outside_accounts'),
    ]

    operations = [
        migrations.RunPython(copy_forward, copy_back),
    ]
