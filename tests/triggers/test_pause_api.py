"""A pause with a note, until a time, on the frontend API (``PATCH /api/triggers/{id}``) and
the agent API (``POST /agents/{id}/triggers/disable``, a PUT's DISABLED items): the fields
shown back, the caller's tenant only, 400s in DRF's format that change nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.selectors import user_public_id
from triggers import services
from triggers.choices import TriggerOrigin, TriggerStatus
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger

PAUSE_KEYS = ("paused_at", "paused_by", "pause_note", "paused_until")


def _later(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


# -- frontend API ------------------------------------------------------------------------------


def test_frontend_a_patch_to_inactive_pauses_with_a_note_until_a_time(
    alice_client, alice, acme, make_trigger
):
    trigger = make_trigger(acme)
    until = _later(hours=4)

    response = alice_client.patch(
        f"/api/triggers/{trigger.id}",
        {"status": 0, "pause_note": "Migrating the CRM", "paused_until": until},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == 0
    assert body["pause_note"] == "Migrating the CRM"
    assert body["paused_by"] == str(alice.pk) == body["user_id"]
    assert parse_datetime(body["paused_until"]) == parse_datetime(until)
    assert body["paused_at"] is not None
    stored = Trigger.objects.get(pk=trigger.pk)
    assert (stored.status, stored.pause_note, stored.paused_by) == (
        TriggerStatus.INACTIVE, "Migrating the CRM", alice,
    )  # fmt: skip
    assert alice_client.get(f"/api/triggers/{trigger.id}").json()["pause_note"] == (
        "Migrating the CRM"
    )


def test_frontend_an_active_trigger_shows_no_pause(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)

    body = alice_client.get(f"/api/triggers/{trigger.id}").json()

    assert {key: body[key] for key in PAUSE_KEYS} == dict.fromkeys(PAUSE_KEYS)


def test_frontend_enabling_clears_the_pause(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    alice_client.patch(
        f"/api/triggers/{trigger.id}", {"status": 0, "pause_note": "x"}, format="json"
    )

    body = alice_client.patch(f"/api/triggers/{trigger.id}", {"status": 1}, format="json").json()

    assert body["status"] == 1
    assert {key: body[key] for key in PAUSE_KEYS} == dict.fromkeys(PAUSE_KEYS)


def test_frontend_the_note_of_a_paused_trigger_can_change_alone(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    alice_client.patch(
        f"/api/triggers/{trigger.id}", {"status": 0, "pause_note": "first"}, format="json"
    )

    response = alice_client.patch(
        f"/api/triggers/{trigger.id}", {"pause_note": "second"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["pause_note"] == "second"
    assert Trigger.objects.get(pk=trigger.pk).pause_note == "second"


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"status": 0, "paused_until": "2020-01-01T00:00:00Z"}, "paused_until", "future"),
        ({"status": 0, "pause_note": "x" * (PAUSE_NOTE_MAX_LENGTH + 1)}, "pause_note", "500"),
        ({"status": 1, "paused_until": "2999-01-01T00:00:00Z"}, "paused_until", "Enabling"),
        ({"pause_note": "why"}, "pause_note", "Only a paused"),
        ({"status": 0, "paused_until": "tomorrow"}, "paused_until", "format"),
    ],
)
def test_frontend_bad_pauses_get_400_naming_the_field_and_change_nothing(
    alice_client, acme, make_trigger, patch, field, message
):
    trigger = make_trigger(acme, name="Before")

    response = alice_client.patch(
        f"/api/triggers/{trigger.id}", {"name": "After", **patch}, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    stored = Trigger.objects.get(pk=trigger.pk)
    assert (stored.name, stored.status, stored.pause_note) == ("Before", "active", "")


def test_frontend_another_tenants_trigger_cannot_be_paused(charlie_client, acme, make_trigger):
    trigger = make_trigger(acme)

    response = charlie_client.patch(
        f"/api/triggers/{trigger.id}", {"status": 0, "pause_note": "mine now"}, format="json"
    )

    assert response.status_code == 404
    assert Trigger.objects.get(pk=trigger.pk).status == TriggerStatus.ACTIVE


# -- agent API ---------------------------------------------------------------------------------


@pytest.fixture
def agent_triggers(alice_client, acme_agent):
    response = alice_client.put(
        "/agents/triage/triggers",
        {"triggers": [{"trigger_id": "cron", "config": {"schedule": "0 9 * * *"}},
                      {"trigger_id": "webhook", "config": {"path": "/webhook/news"}}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()["triggers"]


def test_agent_disable_pauses_every_trigger_with_the_note(alice_client, alice, agent_triggers):
    until = _later(days=1)

    response = alice_client.post(
        "/agents/triage/triggers/disable",
        {"pause_note": "Model upgrade", "paused_until": until},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"agent_id": "triage", "enabled": False, "affected": 2}
    listed = alice_client.get("/agents/triage/triggers").json()
    for instance in listed:
        assert instance["status"] == "DISABLED"
        assert instance["pause_note"] == "Model upgrade"
        assert instance["paused_by"] == str(user_public_id(alice))
        assert parse_datetime(instance["paused_until"]) == parse_datetime(until)
    shared = alice_client.get(f"/triggers/{listed[0]['trigger_instance_id']}").json()
    assert shared["pause_note"] == "Model upgrade"


def test_agent_disable_without_a_body_still_pauses(alice_client, agent_triggers):
    response = alice_client.post("/agents/triage/triggers/disable")

    assert response.status_code == 200, response.content
    assert set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.INACTIVE}
    assert all(t.paused_at for t in Trigger.objects.all())


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("disable", {"paused_until": "2020-01-01T00:00:00Z"}, "paused_until"),
        ("disable", {"pause_note": "x" * (PAUSE_NOTE_MAX_LENGTH + 1)}, "pause_note"),
        ("enable", {"pause_note": "why"}, "pause_note"),
    ],
)
def test_agent_bad_pauses_get_400_and_change_nothing(
    alice_client, agent_triggers, path, body, field
):
    response = alice_client.post(f"/agents/triage/triggers/{path}", body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.ACTIVE}


def test_agent_another_tenants_agent_is_not_found(charlie_client, agent_triggers):
    response = charlie_client.post(
        "/agents/triage/triggers/disable", {"pause_note": "x"}, format="json"
    )

    assert response.status_code == 404
    assert set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.ACTIVE}


def test_agent_a_put_declares_a_pause_and_sending_it_again_changes_nothing(
    alice_client, acme_agent
):
    until = _later(hours=2)
    items = [{"trigger_id": "cron", "status": "DISABLED", "config": {"schedule": "0 9 * * *"},
              "pause_note": "Holidays", "paused_until": until}]  # fmt: skip

    first = alice_client.put("/agents/triage/triggers", {"triggers": items}, format="json")
    again = alice_client.put("/agents/triage/triggers", {"triggers": items}, format="json")

    assert first.status_code == 200, first.content
    assert (first.json()["created"], again.json()["updated"]) == (1, 0)
    instance = again.json()["triggers"][0]
    assert (instance["status"], instance["pause_note"]) == ("DISABLED", "Holidays")
    assert parse_datetime(instance["paused_until"]) == parse_datetime(until)


def test_agent_a_put_leaves_a_pause_alone_unless_its_item_names_it(
    alice_client, alice, agent_triggers
):
    cron = Trigger.objects.get(provider_trigger_id="cron")
    services.trigger_disable(trigger=cron, updated_by=alice, pause_note="Set in the admin")
    items = [{"trigger_id": "cron", "status": "DISABLED", "config": {"schedule": "0 9 * * *"}},
             {"trigger_id": "webhook", "config": {"path": "/webhook/news"}}]  # fmt: skip

    response = alice_client.put("/agents/triage/triggers", {"triggers": items}, format="json")

    assert response.json()["updated"] == 0
    assert Trigger.objects.get(pk=cron.pk).pause_note == "Set in the admin"


def test_agent_a_declared_pause_that_has_ended_reads_as_enabled(
    alice_client, alice, agent_triggers
):
    """The list a platform sends again after the trigger resumed by itself is not refused
    for its until-time in the past: that pause is over."""
    items = [{"trigger_id": "cron", "status": "DISABLED", "config": {"schedule": "0 9 * * *"},
              "pause_note": "Over", "paused_until": "2020-01-01T00:00:00Z"},
             {"trigger_id": "webhook", "config": {"path": "/webhook/news"}}]  # fmt: skip

    response = alice_client.put("/agents/triage/triggers", {"triggers": items}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["updated"] == 0
    assert response.json()["triggers"][0]["status"] == "ENABLED"


def test_agent_an_enabled_item_takes_no_pause(alice_client, acme_agent):
    items = [{"trigger_id": "cron", "config": {"schedule": "0 9 * * *"}, "pause_note": "x"}]

    response = alice_client.put("/agents/triage/triggers", {"triggers": items}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["triggers[0].pause_note"]
    assert not Trigger.objects.filter(origin=TriggerOrigin.AGENT).exists()
