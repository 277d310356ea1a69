"""WebhookEndpoint.delivery_version: PostgreSQL changes it whenever something a remembered
webhook delivery relies on changes (webhooks/migrations/0002), on the endpoint's row or its
trigger's, whoever writes the row."""

import importlib
import uuid

import pytest
from django.db.models import F
from django.utils import timezone

from accounts.services import credential_create, credential_set_value
from triggers.models import Trigger
from triggers.services import trigger_create
from webhooks.delivery import _VERSIONED_ENDPOINT_FIELDS, _VERSIONED_TRIGGER_FIELDS
from webhooks.models import WebhookEndpoint

# The version is kept by PostgreSQL's database triggers (webhooks/migrations/0002).
pytestmark = pytest.mark.postgresql_only

frozen = importlib.import_module("webhooks.migrations.0002_copy_webhook_settings")


@pytest.fixture
def hook(github_hook):
    return github_hook


def version_of(trigger) -> uuid.UUID:
    return WebhookEndpoint.objects.values_list("delivery_version", flat=True).get(pk=trigger.pk)


def a_different_value(field: str, trigger, globex):
    if field == "tenant_id":
        return globex.pk
    if field == "signing_secret_id":
        return credential_create(tenant=trigger.tenant, name="other", value="x").pk
    if field == "max_retries":
        return trigger.max_retries + 1
    if field in ("token", "provider_id", "provider_trigger_id", "message_template"):
        return "changed"
    if field == "path":
        return "/changed"
    if field == "method":
        return "PUT"
    if field == "secret_digest":
        return "0" * 64
    return {"changed": True}  # the JSON settings


def test_the_frozen_column_lists_cover_what_a_delivery_relies_on():
    assert {f.replace("_id", "") for f in _VERSIONED_TRIGGER_FIELDS} == {
        c.replace("_id", "") for c in frozen.TRIGGER_COLUMNS
    }
    assert set(_VERSIONED_ENDPOINT_FIELDS) == set(frozen.ENDPOINT_COLUMNS)


def test_a_new_endpoint_has_a_version(hook):
    assert isinstance(version_of(hook), uuid.UUID)


@pytest.mark.parametrize("field", _VERSIONED_ENDPOINT_FIELDS)
def test_changing_a_versioned_endpoint_column_in_any_way_changes_it(field, hook, globex):
    before = version_of(hook)

    WebhookEndpoint.objects.filter(pk=hook.pk).update(
        **{field: a_different_value(field, hook, globex)}
    )

    assert version_of(hook) != before


@pytest.mark.parametrize("field", _VERSIONED_TRIGGER_FIELDS)
def test_changing_a_versioned_trigger_column_in_any_way_changes_it(field, hook, globex):
    before = version_of(hook)

    Trigger.objects.filter(pk=hook.pk).update(**{field: a_different_value(field, hook, globex)})

    assert version_of(hook) != before


def test_the_counters_a_run_updates_and_saves_without_changes_keep_it(hook):
    before = version_of(hook)

    Trigger.objects.filter(pk=hook.pk).update(
        execution_count=F("execution_count") + 1, last_executed_at=timezone.now()
    )
    Trigger.objects.get(pk=hook.pk).save()
    WebhookEndpoint.objects.get(pk=hook.pk).save()

    assert version_of(hook) == before


def test_a_writer_cannot_set_it(hook):
    before = version_of(hook)
    endpoint = WebhookEndpoint.objects.get(pk=hook.pk)
    endpoint.delivery_version = uuid.uuid4()

    endpoint.save()

    assert version_of(hook) == before


def test_a_stale_instance_saved_over_a_change_gets_a_third_version(hook):
    stale = WebhookEndpoint.objects.get(pk=hook.pk)
    first = version_of(hook)
    WebhookEndpoint.objects.filter(pk=hook.pk).update(input_schema={"type": "object"})
    second = version_of(hook)

    stale.save()  # writes the old settings back, and the old version with them

    assert version_of(hook) not in (first, second, None)


def test_a_new_secret_value_changes_the_endpoints_signed_with_it(acme, hook):
    other = trigger_create(tenant=acme, provider_trigger_id="webhook", name="unsigned")
    hook_before, other_before = version_of(hook), version_of(other)

    credential_set_value(credential=hook.webhook_endpoint.signing_secret, value="rotated")

    assert version_of(hook) != hook_before
    assert version_of(other) == other_before
