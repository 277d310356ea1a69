"""The agent API over HTTP: every endpoint, field and status as its contract writes them."""

import hashlib

import pytest
from django.utils import timezone

from accounts.services import agent_create, agent_request_deletion
from executions.models import Execution
from triggers.api.agents import MAX_TRIGGERS_PER_AGENT
from triggers.choices import TriggerOrigin, TriggerStatus
from triggers.models import Trigger, config_hash
from triggers.services import trigger_freeze

INSTANCE_KEYS = {
    "trigger_instance_id", "agent_id", "trigger_id", "status", "config", "config_hash",
    "error_message", "error_at", "created_at", "updated_at",
    # beyond the contract: a pause (docs/agent-api.md)
    "paused_at", "paused_by", "pause_note", "paused_until",
}  # fmt: skip
CRON = {"trigger_id": "cron", "status": "ENABLED", "config": {"schedule": "0 9 * * *"}}
HOOK = {"trigger_id": "webhook", "status": "ENABLED", "config": {"path": "/webhook/news"}}


def put(client, agent_id, triggers):
    return client.put(f"/agents/{agent_id}/triggers", {"triggers": triggers}, format="json")


def agent_fields(instance: dict) -> dict:
    return {key: value for key, value in instance.items() if key in INSTANCE_KEYS}


def ids(body) -> list[str]:
    return [t["trigger_instance_id"] for t in body["triggers"]]


def test_the_contract_example_cron_and_webhook_then_the_webhook_removed(alice_client, acme_agent):
    first = put(alice_client, "triage", [CRON, HOOK])

    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["agent_id"], body["created"], body["updated"], body["deleted"]) == (
        "triage", 2, 0, 0,
    )  # fmt: skip
    cron, hook = body["triggers"]
    assert set(cron) == INSTANCE_KEYS
    assert cron["trigger_id"] == "cron" and cron["status"] == "ENABLED"
    assert cron["config"] == {"schedule": "0 9 * * *"}
    assert (cron["error_message"], cron["error_at"]) == (None, None)
    assert hook["config"] == {"path": "/webhook/news"}

    second = put(alice_client, "triage", [CRON]).json()

    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 1)
    assert ids(second) == [cron["trigger_instance_id"]]
    assert list(Trigger.objects.values_list("provider_trigger_id", flat=True)) == ["cron"]


def test_the_same_put_twice_changes_nothing_and_keeps_the_ids(alice_client, acme_agent):
    first = put(alice_client, "triage", [CRON, HOOK, {**CRON, "config": {"schedule": "@hourly"}}])
    again = put(alice_client, "triage", [CRON, HOOK, {**CRON, "config": {"schedule": "@hourly"}}])

    assert (again.json()["created"], again.json()["updated"], again.json()["deleted"]) == (0, 0, 0)
    assert ids(again.json()) == ids(first.json())
    assert Trigger.objects.count() == 3


def test_a_changed_schedule_updates_in_place_keeping_id_history_and_hash_rule(
    alice_client, acme_agent
):
    created = put(alice_client, "triage", [CRON]).json()["triggers"][0]
    trigger = Trigger.objects.get()
    Execution.objects.create(tenant=trigger.tenant, trigger=trigger, execution_type="scheduled")

    changed = {**CRON, "config": {"schedule": "30 8 * * 1-5", "timezone": "Europe/Berlin"}}
    body = put(alice_client, "triage", [changed]).json()

    assert (body["created"], body["updated"], body["deleted"]) == (0, 1, 0)
    updated = body["triggers"][0]
    assert updated["trigger_instance_id"] == created["trigger_instance_id"]
    assert updated["config"] == changed["config"]
    assert (
        updated["config_hash"] == config_hash("cron", changed["config"]) != created["config_hash"]
    )
    trigger.refresh_from_db()
    assert (trigger.cron_expression, trigger.timezone) == ("30 8 * * 1-5", "Europe/Berlin")
    assert trigger.executions.count() == 1  # the history stays with it


def test_config_hash_is_sha256_of_the_canonical_json():
    """The test vector of docs/agent-api.md: keys sorted, no whitespace, UTF-8."""
    canonical = b'{"config":{"schedule":"0 9 * * *"},"trigger_id":"cron"}'

    assert (
        hashlib.sha256(canonical).hexdigest()
        == "159f5935ce5de9bfc2ddf54315fb0ca94b532caa9814b850b6251dcb26d1cd03"
    )
    assert (
        config_hash("cron", {"schedule": "0 9 * * *"})
        == "159f5935ce5de9bfc2ddf54315fb0ca94b532caa9814b850b6251dcb26d1cd03"
    )
    assert (
        config_hash("cron", {"b": "é", "a": [1]})
        == hashlib.sha256('{"config":{"a":[1],"b":"é"},"trigger_id":"cron"}'.encode()).hexdigest()
    )


def test_triggers_alike_but_for_their_status_keep_theirs_in_any_order(alice_client, acme_agent):
    off = {**CRON, "status": "DISABLED"}
    first = put(alice_client, "triage", [CRON, CRON, off]).json()
    status_of = {t["trigger_instance_id"]: t["status"] for t in first["triggers"]}

    again = put(alice_client, "triage", [off, CRON, CRON]).json()

    assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)
    assert {t["trigger_instance_id"]: t["status"] for t in again["triggers"]} == status_of
    assert [t["status"] for t in again["triggers"]] == ["DISABLED", "ENABLED", "ENABLED"]


def test_a_bad_item_is_a_400_naming_it_and_nothing_changes(alice_client, acme_agent):
    put(alice_client, "triage", [CRON])
    before = list(Trigger.objects.values_list("uuid", "cron_expression"))

    response = put(
        alice_client, "triage", [HOOK, {"trigger_id": "cron", "config": {"schedule": "61 * * * *"}}]
    )

    assert response.status_code == 400
    assert list(response.json()) == ["triggers[1].config.schedule"]
    assert list(Trigger.objects.values_list("uuid", "cron_expression")) == before


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ({"trigger_id": "rss"}, "triggers[0].trigger_id"),
        ({"trigger_id": "cron", "config": {}}, "triggers[0].config.schedule"),
        ({"trigger_id": "cron", "config": {"schedule": "0 9 * * *", "tz": "x"}},
         "triggers[0].config.tz"),
        ({"trigger_id": "cron", "config": {"schedule": "0 9 * * *", "timezone": "Mars/Base"}},
         "triggers[0].config.timezone"),
        ({"trigger_id": "cron", "status": "FAILED", "config": {"schedule": "0 9 * * *"}},
         "triggers[0].status"),
        ({"trigger_id": "webhook", "config": {"path": "no-slash"}}, "triggers[0].config.path"),
        ({"trigger_id": "webhook", "config": {}}, "triggers[0].config.path"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_item_names_its_field(alice_client, acme_agent, item, named):
    response = put(alice_client, "triage", [item])

    assert response.status_code == 400, response.content
    assert named in response.json()
    assert not Trigger.objects.exists()


def test_an_item_that_is_not_an_object_is_named_by_its_place(alice_client, acme_agent):
    response = put(alice_client, "triage", [CRON, 1])

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["triggers[1]"]
    assert not Trigger.objects.exists()


def test_more_triggers_than_an_agent_may_have_is_a_400_before_any_is_looked_at(
    alice_client, acme_agent, django_assert_max_num_queries
):
    items = [CRON] * (MAX_TRIGGERS_PER_AGENT + 1)

    with django_assert_max_num_queries(10):  # refused whole, not item by item
        response = put(alice_client, "triage", items)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "triggers": [f"At most {MAX_TRIGGERS_PER_AGENT} triggers per agent."]
    }
    assert not Trigger.objects.exists()


def test_an_unknown_trigger_id_lists_the_known_ones(alice_client, acme_agent):
    response = put(alice_client, "triage", [{"trigger_id": "rss"}])

    assert "known: cron, file_system, webhook" in response.json()["triggers[0].trigger_id"][0]


def test_a_webhook_path_taken_anywhere_is_a_400(alice_client, acme_agent, acme, acme_project):
    agent_create(tenant=acme, project=acme_project, name="Other", public_id="other")
    put(alice_client, "other", [HOOK])

    response = put(alice_client, "triage", [CRON, HOOK])

    assert response.status_code == 400
    assert "triggers[1].config.path" in response.json()
    assert Trigger.objects.filter(agent=acme_agent).count() == 0


def test_a_webhook_of_the_agent_api_receives_deliveries_at_its_path(
    client, alice_client, acme_agent
):
    put(alice_client, "triage", [HOOK])

    response = client.post(
        "/hooks/p/webhook/news", data=b'{"x": 1}', content_type="application/json"
    )

    assert response.status_code == 202, response.content
    assert Execution.objects.get().input_data == {"message": None, "payload": {"x": 1}}


def test_put_manages_only_the_triggers_it_made(alice_client, acme_agent, acme, make_trigger):
    other = make_trigger(acme, "cron", agent=acme_agent, project=acme_agent.project)

    body = put(alice_client, "triage", []).json()

    assert (body["created"], body["updated"], body["deleted"]) == (0, 0, 0)
    assert Trigger.objects.get().pk == other.pk and other.origin == TriggerOrigin.FRONTEND
    assert alice_client.get("/agents/triage/triggers").json() == []


def test_list_and_get_trigger_instances(alice_client, acme_agent):
    created = put(alice_client, "triage", [CRON, HOOK]).json()["triggers"]

    listed = alice_client.get("/triggers?limit=1&offset=1")
    one = alice_client.get(f"/triggers/{created[0]['trigger_instance_id']}")
    by_agent = alice_client.get("/agents/triage/triggers")

    assert listed.status_code == 200 and listed["X-Total-Count"] == "2"
    # /triggers is shared with the provider API: its objects carry the fields of both.
    assert [agent_fields(t) for t in listed.json()] == [created[1]]
    assert agent_fields(one.json()) == created[0]
    assert one.json()["project_trigger_id"] == created[0]["trigger_instance_id"]
    assert by_agent.json() == created


@pytest.mark.parametrize(
    "path",
    ["/triggers/7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d", "/triggers/not-a-uuid"],
)
def test_an_unknown_trigger_is_404(alice_client, acme_agent, path):
    response = alice_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Trigger not found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/agents/{agent}/triggers"),
        ("put", "/agents/{agent}/triggers"),
        ("delete", "/agents/{agent}/triggers"),
        ("post", "/agents/{agent}/triggers/enable"),
        ("post", "/agents/{agent}/triggers/disable"),
    ],
)
def test_unknown_and_pending_deletion_agents_are_404(alice_client, acme_agent, method, path):
    put(alice_client, "triage", [CRON])
    agent_request_deletion(agent=acme_agent)

    for agent in ("triage", "nobody"):
        response = getattr(alice_client, method)(
            path.format(agent=agent), {"triggers": []}, format="json"
        )
        assert response.status_code == 404, (agent, response.content)
        assert response.json() == {"detail": "Agent not found"}
    assert Trigger.objects.count() == 1


def test_delete_removes_the_agents_triggers(alice_client, acme_agent):
    put(alice_client, "triage", [CRON, HOOK])

    response = alice_client.delete("/agents/triage/triggers")

    assert response.status_code == 200
    assert response.json() == {"agent_id": "triage", "deleted": 2}
    assert not Trigger.objects.exists()


def test_disable_then_enable_answer_what_they_affected(alice_client, acme_agent):
    put(alice_client, "triage", [CRON, HOOK, {**HOOK, "config": {"path": "/b"}}])

    disabled = alice_client.post("/agents/triage/triggers/disable")
    enabled = alice_client.post("/agents/triage/triggers/enable")

    assert disabled.json() == {"agent_id": "triage", "enabled": False, "affected": 3}
    assert enabled.json() == {"agent_id": "triage", "enabled": True, "affected": 3}
    assert set(Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.ACTIVE}


def test_a_frozen_trigger_shows_failed_and_enable_unfreezes_it(alice_client, acme_agent):
    put(alice_client, "triage", [CRON])
    trigger = Trigger.objects.get()
    Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=5)
    trigger_freeze(trigger_id=trigger.pk, reason="Frozen after 5 failures.", at=timezone.now())

    shown = alice_client.get("/agents/triage/triggers").json()[0]
    again = put(alice_client, "triage", [CRON]).json()  # declared ENABLED does not thaw it
    alice_client.post("/agents/triage/triggers/enable")

    assert (shown["status"], shown["error_message"]) == ("FAILED", "Frozen after 5 failures.")
    assert shown["error_at"] is not None
    assert (again["updated"], again["triggers"][0]["status"]) == (0, "FAILED")
    trigger.refresh_from_db()
    assert (trigger.status, trigger.consecutive_failures, trigger.error_message) == (
        TriggerStatus.ACTIVE, 0, "",
    )  # fmt: skip


def test_a_declared_status_change_counts_as_updated(alice_client, acme_agent):
    put(alice_client, "triage", [CRON])

    body = put(alice_client, "triage", [{**CRON, "status": "DISABLED"}]).json()

    assert (body["updated"], body["triggers"][0]["status"]) == (1, "DISABLED")
    assert Trigger.objects.get().next_fire_at is None


def test_a_viewer_may_read_but_not_put(bob_client, alice_client, acme_agent):
    put(alice_client, "triage", [CRON])

    assert bob_client.get("/agents/triage/triggers").status_code == 200
    assert put(bob_client, "triage", []).status_code == 403
    assert Trigger.objects.count() == 1


ENDPOINTS = [
    ("get", "/triggers/{trigger}"),
    ("get", "/agents/triage/triggers"),
    ("put", "/agents/triage/triggers"),
    ("delete", "/agents/triage/triggers"),
    ("post", "/agents/triage/triggers/enable"),
    ("post", "/agents/triage/triggers/disable"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_another_tenant_gets_404_everywhere(alice_client, charlie_client, acme_agent, method, path):
    trigger = put(alice_client, "triage", [CRON]).json()["triggers"][0]
    before = list(Trigger.objects.values_list("uuid", "status", "config"))

    response = getattr(charlie_client, method)(
        path.format(trigger=trigger["trigger_instance_id"]), {"triggers": []}, format="json"
    )

    assert response.status_code == 404
    assert list(Trigger.objects.values_list("uuid", "status", "config")) == before
    assert charlie_client.get("/triggers").json() == []
