"""The management API's pause: ``enabled: false`` with ``pauseNote`` and ``pausedUntil``;
the trigger shows ``pausedAt``, ``pausedBy``, ``pauseNote``, ``pausedUntil``; a body wrong
by itself is a 400, a pause of a trigger that is not paused a 422 (problem+json)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.selectors import user_public_id
from triggers.choices import TriggerStatus
from triggers.models import Trigger

BASE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
PROBLEM_KEYS = {"code", "detail", "instance", "requestId", "status", "title", "error"}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    return body


@pytest.fixture
def orders(alice_client, acme_agent):
    response = alice_client.post(BASE, {"id": "orders", "name": "Orders"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def test_a_patch_pauses_with_a_note_until_a_time(alice_client, alice, orders):
    until = timezone.now() + timedelta(hours=1)

    response = alice_client.patch(
        f"{BASE}/orders",
        {"enabled": False, "pauseNote": "Shop migration", "pausedUntil": until.isoformat()},
        format="json",
    )

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["enabled"] is False
    assert data["pauseNote"] == "Shop migration"
    assert data["pausedBy"] == str(user_public_id(alice))
    assert parse_datetime(data["pausedUntil"]) == until
    assert data["pausedAt"] is not None
    listed = alice_client.get(BASE).json()["data"]
    assert listed[0]["pauseNote"] == "Shop migration"
    stored = Trigger.objects.get(public_id="orders")
    assert (stored.status, stored.pause_note) == (TriggerStatus.INACTIVE, "Shop migration")


def test_a_trigger_can_be_made_paused(alice_client, acme_agent):
    response = alice_client.post(
        BASE,
        {"id": "later", "name": "Later", "enabled": False, "pauseNote": "Not live yet"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["data"]["pauseNote"] == "Not live yet"
    assert Trigger.objects.get(public_id="later").status == TriggerStatus.INACTIVE


def test_enabling_clears_the_pause(alice_client, orders):
    alice_client.patch(f"{BASE}/orders", {"enabled": False, "pauseNote": "x"}, format="json")

    data = alice_client.patch(f"{BASE}/orders", {"enabled": True}, format="json").json()["data"]

    assert (data["enabled"], data["pausedAt"], data["pauseNote"]) == (True, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": False, "pausedUntil": "2020-01-01T00:00:00Z"}, "pausedUntil"),
        ({"enabled": False, "pauseNote": "x" * 501}, "pauseNote"),
        ({"enabled": True, "pauseNote": "why"}, "pauseNote"),
    ],
)
def test_a_body_wrong_by_itself_is_a_400_and_changes_nothing(alice_client, orders, body, field):
    body = problem(alice_client.patch(f"{BASE}/orders", body, format="json"), 400)

    assert field in body["detail"]
    stored = Trigger.objects.get(public_id="orders")
    assert (stored.status, stored.pause_note) == (TriggerStatus.ACTIVE, "")


def test_a_note_for_a_trigger_that_is_not_paused_is_a_422(alice_client, orders):
    body = problem(alice_client.patch(f"{BASE}/orders", {"pauseNote": "x"}, format="json"), 422)

    assert "pauseNote" in body["detail"]
    assert Trigger.objects.get(public_id="orders").pause_note == ""


def test_another_tenants_trigger_is_not_found(charlie_client, orders):
    response = charlie_client.patch(
        f"{BASE}/orders", {"enabled": False, "pauseNote": "x"}, format="json"
    )

    problem(response, 404)
    assert Trigger.objects.get(public_id="orders").status == TriggerStatus.ACTIVE
