"""The seed 000 FilterSet, tested directly (netbox style)."""

from triggers.api.frontend_filters import FrontendTriggerFilterSet
from triggers.models import Trigger


def test_it_filters_failed_triggers_as_inactive(acme, make_trigger):
    failed = make_trigger(acme)
    make_trigger(acme)
    Trigger.objects.filter(pk=failed.pk).update(status="failed")
    filtered = FrontendTriggerFilterSet({"status": "0"}, Trigger.objects.all()).qs
    assert list(filtered) == [Trigger.objects.get(pk=failed.pk)]


def test_it_maps_each_frontend_type_to_its_catalog_entry(acme, make_trigger):
    make_trigger(acme)
    make_trigger(acme, "webhook")
    make_trigger(acme, "event", provider_id="slack")
    for trigger_type in ("schedule", "webhook", "slack_trigger"):
        assert (
            FrontendTriggerFilterSet(
                {"trigger_type": trigger_type}, Trigger.objects.all()
            ).qs.count()
            == 1
        )


def test_an_invalid_value_makes_the_filterset_invalid(acme):
    filterset = FrontendTriggerFilterSet({"status": "11"}, Trigger.objects.all())
    assert not filterset.is_valid()
    assert "status" in filterset.errors


def test_a_non_null_order_is_the_indexs_and_never_run_triggers_come_last(acme, make_trigger):
    """created_at is ordered plainly, so the (tenant, -created_at, -id) index serves a page
    (NULLS LAST would make PostgreSQL sort every row); last_executed_at keeps never-run
    triggers last whichever the direction."""
    from django.utils import timezone

    ran, never = make_trigger(acme), make_trigger(acme)
    Trigger.objects.filter(pk=ran.pk).update(last_executed_at=timezone.now())

    newest = FrontendTriggerFilterSet({}, Trigger.objects.all()).qs
    assert "NULLS LAST" not in str(newest.query)
    assert list(newest) == [never, ran]
    for order in ("asc", "desc"):
        by_run = FrontendTriggerFilterSet(
            {"sort_by": "last_executed_at", "order": order}, Trigger.objects.all()
        ).qs
        assert list(by_run) == [ran, never], order
