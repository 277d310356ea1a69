"""Seed 000's execution endpoints."""

import uuid

import pytest
from django.utils import timezone

from executions.models import Execution

EXECUTION_FIELDS = {
    "id": (int,),
    "trigger_id": (int,),
    "execution_id": (str,),
    "execution_type": (str,),
    "status": (int,),
    "started_at": (str, type(None)),
    "completed_at": (str, type(None)),
    "duration_seconds": (float, int, type(None)),
    "input_data": (dict, type(None)),
    "output_data": (dict, type(None)),
    "error_message": (str, type(None)),
    "retry_count": (int,),
    "max_retries": (int,),
    "tokens_used": (int, type(None)),
    "tools_executed": (dict, list, type(None)),
    "worker_id": (str, type(None)),
    "delivery_count": (int,),
    "created_at": (str,),
    "updated_at": (str,),
}


def assert_execution_shape(body: dict) -> None:
    for field, types in EXECUTION_FIELDS.items():
        assert field in body, field
        assert isinstance(body[field], types), (field, body[field])
    uuid.UUID(body["execution_id"])
    assert body["status"] in {0, 1, 2, 3, 4}


def test_test_creates_a_pending_manual_execution(alice_client, acme, make_trigger):
    trigger = make_trigger(acme, max_retries=2)
    alice_client.patch(f"/api/triggers/{trigger.id}", {"status": 0}, format="json")
    response = alice_client.post(f"/api/triggers/{trigger.id}/test")
    assert response.status_code == 201
    body = response.json()
    assert_execution_shape(body)
    assert (body["trigger_id"], body["execution_type"], body["status"]) == (
        trigger.id,
        "manual",
        0,
    )
    assert body["max_retries"] == 2 and body["retry_count"] == 0
    execution = Execution.objects.get(pk=body["id"])
    assert execution.tenant == acme and execution.trigger == trigger
    assert execution.status == "pending"


def test_it_lists_a_triggers_executions_newest_first(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    other = make_trigger(acme)
    first = alice_client.post(f"/api/triggers/{trigger.id}/test").json()
    second = alice_client.post(f"/api/triggers/{trigger.id}/test").json()
    alice_client.post(f"/api/triggers/{other.id}/test")

    response = alice_client.get(f"/api/triggers/{trigger.id}/executions")
    assert response.status_code == 200
    body = response.json()
    assert [e["id"] for e in body] == [second["id"], first["id"]]
    for item in body:
        assert_execution_shape(item)


def test_a_triggers_executions_filter_as_the_executions_list_does(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    for kind, status in [("manual", "completed"), ("manual", "failed"), ("scheduled", "failed")]:
        Execution.objects.create(tenant=acme, trigger=trigger, execution_type=kind, status=status)
    url = f"/api/triggers/{trigger.id}/executions"

    failed = alice_client.get(f"{url}?status=3").json()
    scheduled = alice_client.get(f"{url}?execution_type=scheduled&status=failed").json()

    assert [e["status"] for e in failed] == [3, 3]
    assert [(e["execution_type"], e["status"]) for e in scheduled] == [("scheduled", 3)]
    for query in ("status=bogus", "execution_type=fax", "status="):
        refused = alice_client.get(f"{url}?{query}")
        assert refused.status_code == 400, query
        assert query.split("=")[0] in refused.json()


def test_an_execution_is_found_by_its_execution_id_too(
    alice_client, charlie_client, acme, make_trigger
):
    trigger = make_trigger(acme)
    created = alice_client.post(f"/api/triggers/{trigger.id}/test").json()

    by_uuid = alice_client.get(f"/api/executions/{created['execution_id']}")
    cancelled = alice_client.post(f"/api/executions/{created['execution_id']}/cancel")

    assert by_uuid.status_code == 200 and by_uuid.json()["id"] == created["id"]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == 4
    assert charlie_client.get(f"/api/executions/{created['execution_id']}").status_code == 404
    assert alice_client.get(f"/api/executions/{uuid.uuid4()}").status_code == 404


def test_it_gets_an_execution_with_its_duration(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    created = alice_client.post(f"/api/triggers/{trigger.id}/test").json()
    started = timezone.now()
    Execution.objects.filter(pk=created["id"]).update(
        status="completed",
        started_at=started,
        completed_at=started + timezone.timedelta(seconds=2.5),
        output_data={"answer": 42},
        tokens_used=123,
        tools_executed={"search": 2},
        worker_id="celery@host",
    )
    response = alice_client.get(f"/api/executions/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert_execution_shape(body)
    assert body["status"] == 2
    assert body["duration_seconds"] == 2.5
    assert body["output_data"] == {"answer": 42} and body["tokens_used"] == 123
    assert alice_client.get("/api/executions/999999").status_code == 404


def test_cancel_ends_a_pending_execution_and_refuses_a_finished_one(
    alice_client, bob_client, acme, make_trigger
):
    trigger = make_trigger(acme)
    created = alice_client.post(f"/api/triggers/{trigger.id}/test").json()

    assert bob_client.post(f"/api/executions/{created['id']}/cancel").status_code == 403
    response = alice_client.post(f"/api/executions/{created['id']}/cancel")

    assert response.status_code == 200
    assert_execution_shape(response.json())
    assert response.json()["status"] == 4
    assert response.json()["error_message"] == "Cancelled by alice."
    assert Execution.objects.get(pk=created["id"]).status == "cancelled"
    again = alice_client.post(f"/api/executions/{created['id']}/cancel")
    assert again.status_code == 400
    assert "only pending or running" in again.json()["status"][0]


# -- GET /api/executions: every trigger's history, whatever surface made it ---------------


@pytest.fixture
def histories(acme, globex, make_trigger, alice_client, acme_agent):
    """Executions of a frontend cron trigger, an agent API webhook and another tenant's."""
    cron = make_trigger(acme, "cron", name="cron")
    alice_client.put(
        "/agents/triage/triggers",
        {"triggers": [{"trigger_id": "webhook", "config": {"path": "/in"}}]},
        format="json",
    )
    hook = acme.triggers.get(origin="agent")
    theirs = make_trigger(globex, "cron", name="theirs")
    made = {}
    for trigger, kind, status in [
        (cron, "scheduled", "completed"),
        (hook, "webhook", "failed"),
        (hook, "webhook", "pending"),
        (theirs, "scheduled", "completed"),
    ]:
        execution = Execution.objects.create(
            tenant=trigger.tenant, trigger=trigger, execution_type=kind, status=status
        )
        made.setdefault(trigger.name, []).append(execution.pk)
    return {"cron": cron, "hook": hook, "made": made}


def test_executions_lists_the_tenants_newest_first_with_a_total(alice_client, histories):
    response = alice_client.get("/api/executions")

    assert response.status_code == 200
    assert response["X-Total-Count"] == "3"
    listed = [e["id"] for e in response.json()]
    assert listed == sorted(listed, reverse=True)
    assert set(response.json()[0]) >= {"id", "trigger_id", "execution_id", "status"}


@pytest.mark.parametrize("key", ["pk", "uuid", "public_id"])
def test_executions_filter_by_a_trigger_id_of_any_surface(alice_client, histories, key):
    hook = histories["hook"]

    response = alice_client.get(f"/api/executions?trigger_id={getattr(hook, key)}")

    assert sorted(e["id"] for e in response.json()) == sorted(histories["made"][hook.name])
    assert {e["trigger_id"] for e in response.json()} == {hook.pk}


def test_executions_filter_by_type_and_status(alice_client, histories):
    by_type = alice_client.get("/api/executions?execution_type=webhook").json()
    by_number = alice_client.get("/api/executions?status=3").json()
    by_name = alice_client.get("/api/executions?status=failed").json()

    assert len(by_type) == 2
    assert [e["status"] for e in by_number] == [3] and by_number == by_name


@pytest.mark.parametrize("query", ["trigger_id=9223372036854775808", "trigger_id=%C2%B2"])
def test_executions_filtered_by_an_id_no_trigger_can_have_are_empty(alice_client, histories, query):
    response = alice_client.get(f"/api/executions?{query}")

    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("query", ["status=9", "execution_type=fax", "status=", "limit=0"])
def test_executions_bad_filters_are_400_naming_them(alice_client, histories, query):
    response = alice_client.get(f"/api/executions?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_another_tenants_trigger_id_finds_nothing(charlie_client, histories):
    response = charlie_client.get(f"/api/executions?trigger_id={histories['hook'].uuid}")

    assert response.json() == [] and response["X-Total-Count"] == "0"
