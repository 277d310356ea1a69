"""The provider API's ``POST /triggers/{id}/disable`` pauses with an optional note and end;
the shared trigger object shows them; bad ones are 400s in DRF's format."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.selectors import user_public_id
from accounts.services import credential_create
from triggers.choices import TriggerStatus
from triggers.models import Trigger


@pytest.fixture
def stripe_trigger(alice_client, acme_project, acme):
    connection = credential_create(
        tenant=acme, name="stripe", value="whsec_test", provider_id="stripe"
    )
    response = alice_client.post(
        "/projects/support/triggers",
        {"provider_id": "stripe", "trigger_id": "on_customer_created",
         "connection_id": str(connection.pk)},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    trigger_id = response.json()["project_trigger_id"]
    assert alice_client.post(f"/triggers/{trigger_id}/enable").status_code == 200
    return trigger_id


def test_disable_pauses_with_a_note_until_a_time(alice_client, alice, stripe_trigger):
    until = timezone.now() + timedelta(hours=6)

    response = alice_client.post(
        f"/triggers/{stripe_trigger}/disable",
        {"pause_note": "Stripe maintenance", "paused_until": until.isoformat()},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "DISABLED"
    assert body["pause_note"] == "Stripe maintenance"
    assert body["paused_by"] == str(user_public_id(alice)) == body["updated_by"]
    assert parse_datetime(body["paused_until"]) == until
    listed = alice_client.get("/projects/support/triggers").json()
    assert listed[0]["pause_note"] == "Stripe maintenance"
    stored = Trigger.objects.get(uuid=stripe_trigger)
    assert (stored.status, stored.paused_until) == (TriggerStatus.INACTIVE, until)


def test_enable_ends_the_pause(alice_client, stripe_trigger):
    alice_client.post(f"/triggers/{stripe_trigger}/disable", {"pause_note": "x"}, format="json")

    body = alice_client.post(f"/triggers/{stripe_trigger}/enable").json()

    assert body["status"] == "ENABLED"
    assert (body["paused_at"], body["paused_by"], body["pause_note"]) == (None, None, None)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("disable", {"paused_until": "2020-01-01T00:00:00Z"}, "paused_until"),
        ("disable", {"pause_note": "x" * 501}, "pause_note"),
        ("disable", {"paused_until": 17}, "paused_until"),
        ("enable", {"paused_until": "2999-01-01T00:00:00Z"}, "paused_until"),
    ],
)
def test_bad_pauses_get_400_naming_the_field_and_change_nothing(
    alice_client, stripe_trigger, path, body, field
):
    response = alice_client.post(f"/triggers/{stripe_trigger}/{path}", body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    stored = Trigger.objects.get(uuid=stripe_trigger)
    assert (stored.status, stored.paused_at) == (TriggerStatus.ACTIVE, None)


def test_another_tenants_trigger_is_not_found(charlie_client, stripe_trigger):
    response = charlie_client.post(
        f"/triggers/{stripe_trigger}/disable", {"pause_note": "x"}, format="json"
    )

    assert response.status_code == 404
    assert Trigger.objects.get(uuid=stripe_trigger).status == TriggerStatus.ACTIVE
