from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import agent_request_deletion
from triggers import services
from triggers.models import Trigger


def test_it_creates_a_cron_trigger_armed_for_its_next_slot(acme, make_trigger):
    before = timezone.now()
    trigger = make_trigger(acme, cron_expression="*/5 * * * *")
    assert trigger.status == "active"
    assert before < trigger.next_fire_at <= before + timedelta(minutes=5)
    assert trigger.next_fire_at.minute % 5 == 0
    assert len(trigger.config_hash) == 64
    assert trigger.public_id == str(trigger.uuid)
    assert not hasattr(trigger, "webhook_endpoint") and trigger.webhook_url is None


def test_it_gives_webhook_triggers_an_unguessable_url(acme, make_trigger, settings):
    first = make_trigger(acme, "webhook")
    second = make_trigger(acme, "webhook")
    assert first.webhook_url.startswith(f"{settings.PUBLIC_BASE_URL}/hooks/")
    assert len(first.webhook_endpoint.token) >= 40
    assert first.webhook_endpoint.token != second.webhook_endpoint.token
    assert first.next_fire_at is None


def test_it_refuses_a_schedule_trigger_without_a_valid_cron(acme, make_trigger):
    with pytest.raises(ValidationError) as caught:
        make_trigger(acme, cron_expression="not cron")
    assert "cron_expression" in caught.value.message_dict
    assert not Trigger.objects.exists()


def test_it_refuses_an_unknown_type_and_timezone(acme, make_trigger):
    with pytest.raises(ValidationError) as caught:
        make_trigger(acme, "telepathy", timezone="Nowhere/Land")
    assert {"provider_trigger_id", "timezone"} <= set(caught.value.message_dict)


def test_it_refuses_objects_of_another_tenant(acme, globex, make_trigger):
    from accounts.services import project_create

    foreign = project_create(tenant=globex, name="G")
    with pytest.raises(ValidationError) as caught:
        make_trigger(acme, project=foreign)
    assert "project" in caught.value.message_dict


def test_the_config_hash_changes_with_the_config(acme, make_trigger):
    trigger = make_trigger(acme, cron_expression="0 9 * * *")
    before = trigger.config_hash
    same = services.trigger_update(trigger=trigger, name="renamed")
    assert same.config_hash == before
    changed = services.trigger_update(trigger=trigger, cron_expression="0 10 * * *")
    assert changed.config_hash != before
    assert changed.next_fire_at.hour == 10


def test_disabling_clears_the_next_slot_and_enabling_resets_failure(acme, make_trigger):
    trigger = make_trigger(acme)
    disabled = services.trigger_disable(trigger=trigger)
    assert disabled.status == "inactive" and disabled.next_fire_at is None

    Trigger.objects.filter(pk=trigger.pk).update(
        status="failed", consecutive_failures=5, error_message="boom", error_at=timezone.now()
    )
    enabled = services.trigger_enable(trigger=trigger)
    assert enabled.status == "active"
    assert enabled.consecutive_failures == 0
    assert enabled.error_message == "" and enabled.error_at is None
    assert enabled.next_fire_at is not None


def test_only_active_or_inactive_can_be_requested(acme, make_trigger):
    trigger = make_trigger(acme)
    with pytest.raises(ValidationError) as caught:
        services.trigger_update(trigger=trigger, status="completed")
    assert "status" in caught.value.message_dict
    trigger.refresh_from_db()
    assert trigger.status == "active"


def test_a_trigger_of_an_agent_pending_deletion_cannot_be_enabled(
    acme, acme_project, acme_agent, make_trigger
):
    trigger = make_trigger(acme, project=acme_project, agent=acme_agent)
    agent_request_deletion(agent=acme_agent)
    trigger.refresh_from_db()
    assert trigger.status == "stale"
    with pytest.raises(ValidationError):
        services.trigger_enable(trigger=trigger)
    trigger.refresh_from_db()
    assert trigger.status == "stale"


def test_duplicate_copies_settings_but_not_identity_or_counters(acme, alice, make_trigger):
    original = make_trigger(
        acme,
        "webhook",
        task_prompt="Summarise {{body.title}}",
        max_executions_per_hour=10,
        custom_task={"steps": [1, 2]},
    )
    Trigger.objects.filter(pk=original.pk).update(
        execution_count=7, error_count=2, last_execution_status="failed"
    )
    original.refresh_from_db()

    copy = services.trigger_duplicate(trigger=original, created_by=alice)
    assert copy.pk != original.pk and copy.uuid != original.uuid
    assert copy.name == f"{original.name} (copy)"
    assert copy.status == "inactive"
    assert copy.task_prompt == original.task_prompt
    assert copy.custom_task == {"steps": [1, 2]}
    assert copy.max_executions_per_hour == 10
    assert (copy.execution_count, copy.error_count, copy.last_execution_status) == (0, 0, "")
    assert (
        copy.webhook_endpoint.token
        and copy.webhook_endpoint.token != original.webhook_endpoint.token
    )


def test_deleting_a_connection_makes_its_triggers_stale_with_the_reason(acme, make_trigger):
    from accounts.services import credential_create, credential_delete

    connection = credential_create(tenant=acme, name="stripe-live", value="whsec_x")
    connection.provider_id = "stripe"
    connection.save()
    trigger = make_trigger(acme, "webhook", connection=connection)

    credential_delete(credential=connection)

    trigger.refresh_from_db()
    assert (trigger.status, trigger.connection) == ("stale", None)
    assert trigger.error_message == "Connection 'stripe-live' was deleted."
