"""The webhook endpoint is written by webhooks.services, from the trigger services' writes."""

import pytest
from django.core.exceptions import ValidationError

from accounts.services import credential_create
from triggers import services as trigger_services
from triggers.models import Trigger
from webhooks.models import WebhookEndpoint


def version_of(trigger):
    return WebhookEndpoint.objects.values_list("delivery_version", flat=True).get(pk=trigger.pk)


def test_a_setting_no_app_takes_rolls_the_write_back(acme, make_trigger):
    with pytest.raises(TypeError, match="webhook_colour"):
        make_trigger(acme, "webhook", name="typo", webhook_colour="red")

    assert not Trigger.objects.filter(name="typo").exists()


def test_a_duplicate_copies_the_settings_but_not_the_url(github_hook, alice):
    copy = trigger_services.trigger_duplicate(trigger=github_hook, created_by=alice)

    original, copied = github_hook.webhook_endpoint, WebhookEndpoint.objects.get(pk=copy.pk)
    assert copied.signature_verification == original.signature_verification == {"preset": "github"}
    assert copied.signing_secret_id == original.signing_secret_id
    assert copied.token and copied.token != original.token
    assert (original.path, copied.path) == ("/github/issues", None)


def test_a_status_change_leaves_the_endpoint_and_its_version_alone(github_hook, alice):
    before = version_of(github_hook)

    trigger_services.trigger_disable(trigger=github_hook, updated_by=alice)
    trigger_services.trigger_enable(trigger=github_hook, updated_by=alice)

    assert version_of(github_hook) == before


def test_a_path_taken_is_refused_on_webhook_path(github_hook, acme, make_trigger):
    with pytest.raises(ValidationError) as refused:
        make_trigger(acme, "webhook", webhook_path="/github/issues/")

    assert "webhook_path" in refused.value.message_dict
    assert WebhookEndpoint.objects.filter(path="/github/issues").count() == 1


def test_a_signing_secret_of_another_tenant_is_refused(acme, globex, make_trigger):
    theirs = credential_create(tenant=globex, name="theirs", value="x")

    with pytest.raises(ValidationError) as refused:
        make_trigger(acme, "webhook", signing_secret=theirs)

    assert refused.value.message_dict["signing_secret"] == ["Belongs to another tenant."]
