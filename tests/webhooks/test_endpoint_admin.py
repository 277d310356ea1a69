"""The admin's webhook endpoint page changes settings as a write of the trigger."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from webhooks.authentication import shown_authentication, store_authentication
from webhooks.models import WebhookEndpoint


@pytest.fixture
def root_client(client, db):
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(user)
    return client


def change(root_client, endpoint, **values):
    form = {
        "path": endpoint.path or "",
        "method": endpoint.method,
        "authentication": "null",
        "signature_verification": "null",
        "signing_secret": "",
        "input_schema": "null",
        "message_template": endpoint.message_template,
        "output_transform": "null",
        **values,
    }
    return root_client.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", form)


def test_it_saves_a_setting_through_the_services(root_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    endpoint = trigger.webhook_endpoint
    before = WebhookEndpoint.objects.get(pk=trigger.pk).delivery_version

    response = change(root_client, endpoint, path="/news/", input_schema='{"type": "object"}')

    assert response.status_code == 302
    saved = WebhookEndpoint.objects.get(pk=trigger.pk)
    assert (saved.path, saved.input_schema) == ("/news", {"type": "object"})  # normalised
    if connection.vendor == "postgresql":  # the version is kept by its database triggers
        assert saved.delivery_version != before
    trigger.refresh_from_db()
    assert trigger.updated_by.username == "root"


def test_it_refuses_a_setting_that_does_not_compile_on_its_field(root_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook")

    response = change(root_client, trigger.webhook_endpoint, input_schema='{"type": "strin"}')

    assert response.status_code == 200
    assert "input_schema" in response.context["adminform"].form.errors
    assert WebhookEndpoint.objects.get(pk=trigger.pk).input_schema is None


@pytest.fixture
def header_protected(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    endpoint = trigger.webhook_endpoint
    endpoint.authentication = store_authentication(
        {"headers": [{"name": "X-Token", "value": "acme-secret-token-value"}]}
    )
    endpoint.save(update_fields=["authentication"])
    return trigger


def test_pages_show_header_authentication_without_its_hash(root_client, header_protected):
    endpoint = header_protected.webhook_endpoint
    stored_hash = endpoint.authentication["headers"][0]["valueHash"]

    edit = root_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    trigger_page = root_client.get(f"/admin/triggers/trigger/{header_protected.pk}/change/")

    for page in (edit, trigger_page):
        assert page.status_code == 200
        text = page.content.decode()
        assert "X-Token" in text
        assert stored_hash not in text and "scrypt$" not in text


def test_the_form_stores_header_values_hashed_and_keeps_the_ones_not_retyped(
    root_client, header_protected
):
    endpoint = header_protected.webhook_endpoint
    kept = endpoint.authentication["headers"][0]
    shown = json.dumps(shown_authentication(endpoint.authentication))

    unchanged = change(root_client, endpoint, authentication=shown)
    assert unchanged.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.authentication["headers"] == [kept]

    given = {"headers": [{"name": "X-Token"}, {"name": "X-Env", "value": "prod-0123456789"}]}
    response = change(root_client, endpoint, authentication=json.dumps(given))

    assert response.status_code == 302
    endpoint.refresh_from_db()
    token, env = endpoint.authentication["headers"]
    assert token == kept  # no value typed: the stored one stays
    assert env["name"] == "X-Env" and "prod-0123456789" not in json.dumps(env)
    assert env["valueHash"].startswith("scrypt$")
