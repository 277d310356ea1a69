"""The trigger admin's form: a type's config keys as fields, checked and saved by the same
rules as the APIs (triggers/admin_config.py)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from triggers import services as trigger_services
from triggers.models import Trigger


def _post_data(page) -> dict:
    """What the browser would post back: the form's current values."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        # A JSON field's value is its JSON text already.
        data[name] = value if isinstance(value, str | list | tuple) else field.prepare_value(value)
    for inline in page.context["inline_admin_formsets"]:  # a kind's inline: its management form
        management = inline.formset.management_form
        data.update({management.add_prefix(n): management[n].value() for n in management.fields})
    return data


def test_a_schedules_config_keys_are_fields_and_save_through_the_services(root, acme, make_trigger):
    trigger = make_trigger(
        acme, "cron", cron_expression="0 9 * * 1-5", config={"custom": "kept", "date": None}
    )
    url = reverse("admin:triggers_trigger_change", args=[trigger.pk])
    page = root.get(url)
    for key in ("date", "expirationDate", "jitter_seconds", "max_failure_count"):
        assert f'name="config__{key}"' in page.content.decode(), key
    assert 'name="config__body_contains"' not in page.content.decode()

    data = _post_data(page)
    data.update(config__jitter_seconds="90", config__expirationDate="2099-12-31")
    saved = root.post(url, data)

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    trigger.refresh_from_db()
    assert trigger.config == {
        "custom": "kept",
        "jitter_seconds": 90,
        "expirationDate": "2099-12-31",
    }
    assert trigger.config_hash == trigger.compute_config_hash()


def test_a_refused_value_shows_on_its_field(root, acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="0 9 * * 1-5")
    url = reverse("admin:triggers_trigger_change", args=[trigger.pk])
    data = _post_data(root.get(url))
    data["config__date"] = "2099-01-03"  # a Saturday: the cron has no slot that day

    refused = root.post(url, data)

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "has no slot on 2099-01-03" in " ".join(errors["config__date"])
    trigger.refresh_from_db()
    assert "date" not in trigger.config


def test_a_webhooks_filters_are_fields(root, acme, make_trigger):
    hook = make_trigger(acme, "webhook", name="Hook")
    url = reverse("admin:triggers_trigger_change", args=[hook.pk])
    data = _post_data(root.get(url))
    data.update(config__body_contains="opened", config__required_headers="X-GitHub-Event, X-Id")
    data["config__include_headers"] = "on"

    saved = root.post(url, data)

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    hook = Trigger.objects.get(pk=hook.pk)
    assert hook.config == {
        "body_contains": "opened",
        "required_headers": ["X-GitHub-Event", "X-Id"],
        "include_headers": True,
    }


def test_a_config_refusal_on_the_add_page_shows_on_the_json_box(root, acme):
    url = reverse("admin:triggers_trigger_add")
    data = _post_data(root.get(url))
    data.update(
        tenant=acme.pk, name="Weekdays", provider_id="builtin", provider_trigger_id="cron",
        cron_expression="0 9 * * 1-5", timezone="UTC", config='{"date": "2099-01-03"}',
    )  # fmt: skip

    refused = root.post(url, data)

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "has no slot on 2099-01-03" in " ".join(errors["config"])
    assert not Trigger.objects.filter(name="Weekdays").exists()


def test_a_trigger_stays_with_its_tenant(root, acme, globex, make_trigger):
    """Its executions, credentials and outside accounts are its tenant's: the change page
    shows the tenant read-only, and the service refuses a move from any caller."""
    trigger = make_trigger(acme, "cron", cron_expression="0 9 * * 1-5")
    url = reverse("admin:triggers_trigger_change", args=[trigger.pk])
    page = root.get(url)
    assert "tenant" not in page.context["adminform"].form.fields

    data = {**_post_data(page), "tenant": globex.pk, "name": "renamed"}
    saved = root.post(url, data)

    assert saved.status_code == 302
    trigger.refresh_from_db()
    assert (trigger.tenant_id, trigger.name) == (acme.pk, "renamed")
    for move in ({"tenant": globex}, {"tenant_id": globex.pk}):
        with pytest.raises(ValidationError, match="stays with its tenant"):
            trigger_services.trigger_update(trigger=trigger, **move)
    trigger.refresh_from_db()
    assert trigger.tenant_id == acme.pk
