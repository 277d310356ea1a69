"""Trigger.delivery_version: PostgreSQL changes it whenever something a remembered webhook
delivery relies on changes (triggers/migrations/0003), whoever writes the row."""

import uuid

import pytest
from django.db.models import F
from django.utils import timezone

from accounts.services import credential_create, credential_set_value
from triggers.models import Trigger
from triggers.services import trigger_create
from webhooks.delivery import _VERSIONED_FIELDS

# The version is kept by PostgreSQL's database triggers (triggers/migrations/0003).
pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def hook(github_hook):
    return github_hook


def version_of(trigger) -> uuid.UUID:
    return Trigger.objects.values_list("delivery_version", flat=True).get(pk=trigger.pk)


def a_different_value(field: str, trigger, globex):
    if field == "tenant_id":
        return globex.pk
    if field == "signing_secret_id":
        return credential_create(tenant=trigger.tenant, name="other", value="x").pk
    if field == "max_retries":
        return trigger.max_retries + 1
    if field in ("webhook_token", "provider_id", "provider_trigger_id"):
        return "changed"
    if field == "webhook_path":
        return "/changed"
    if field == "webhook_method":
        return "PUT"
    if field == "webhook_secret_digest":
        return "0" * 64
    return {"changed": True}  # the JSON settings


def test_a_new_trigger_has_a_version(hook):
    assert isinstance(version_of(hook), uuid.UUID)


@pytest.mark.parametrize("field", _VERSIONED_FIELDS)
def test_changing_a_versioned_column_in_any_way_changes_it(field, hook, globex):
    before = version_of(hook)

    Trigger.objects.filter(pk=hook.pk).update(**{field: a_different_value(field, hook, globex)})

    assert version_of(hook) != before


def test_the_counters_a_run_updates_and_a_save_without_changes_keep_it(hook):
    before = version_of(hook)

    Trigger.objects.filter(pk=hook.pk).update(
        execution_count=F("execution_count") + 1, last_executed_at=timezone.now()
    )
    Trigger.objects.get(pk=hook.pk).save()

    assert version_of(hook) == before


def test_a_writer_cannot_set_it(hook):
    before = version_of(hook)
    hook.refresh_from_db()
    hook.delivery_version = uuid.uuid4()

    hook.save()

    assert version_of(hook) == before


def test_a_stale_instance_saved_over_a_change_gets_a_third_version(hook):
    stale = Trigger.objects.get(pk=hook.pk)
    first = version_of(hook)
    Trigger.objects.filter(pk=hook.pk).update(input_schema={"type": "object"})
    second = version_of(hook)

    stale.save()  # writes the old settings back, and the old version with them

    assert version_of(hook) not in (first, second, None)


def test_a_new_secret_value_changes_the_triggers_signed_with_it(acme, hook):
    other = trigger_create(tenant=acme, provider_trigger_id="webhook", name="unsigned")
    hook_before, other_before = version_of(hook), version_of(other)

    credential_set_value(credential=hook.signing_secret, value="rotated")

    assert version_of(hook) != hook_before
    assert version_of(other) == other_before
