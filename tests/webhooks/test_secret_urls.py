"""A trigger's uuid is no secret (issue 25, finding 5): every API shows it, dry runs echo it,
agent runtimes receive it. ``POST /v1/webhooks/<uuid>`` serves the provider API's project
triggers only; every other webhook trigger is reached through its secret URL alone, and its
uuid there is a 404 in problem+json that stores nothing."""

import pytest

from executions.models import Execution
from tests.conftest import purge_test_queue
from triggers.choices import TriggerOrigin
from triggers.models import Trigger

HOOK = {"trigger_id": "webhook", "status": "ENABLED", "config": {"path": "/webhook/news"}}


def post(client, path: str):
    return client.post(path, data=b'{"order": 1}', content_type="application/json")


def assert_refused_and_nothing_stored(response) -> None:
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert not Execution.objects.exists()


def test_a_frontend_api_webhooks_uuid_does_not_open_it(alice_client, client):
    created = alice_client.post(
        "/api/triggers", {"name": "Orders", "trigger_type": "webhook"}, format="json"
    )
    assert created.status_code == 201, created.content
    trigger = Trigger.objects.get(pk=created.json()["id"])
    assert trigger.origin == TriggerOrigin.FRONTEND

    assert_refused_and_nothing_stored(post(client, f"/v1/webhooks/{trigger.uuid}"))

    # Its secret URL still delivers.
    delivered = post(client, f"/hooks/{trigger.webhook_endpoint.token}")
    purge_test_queue()
    assert delivered.status_code == 202, delivered.content
    assert Execution.objects.get().trigger_id == trigger.pk


def test_an_agent_api_webhooks_uuid_does_not_open_it(alice_client, client, acme_agent):
    put = alice_client.put("/agents/triage/triggers", {"triggers": [HOOK]}, format="json")
    assert put.status_code == 200, put.content
    [instance] = put.json()["triggers"]

    assert_refused_and_nothing_stored(
        post(client, f"/v1/webhooks/{instance['trigger_instance_id']}")
    )

    delivered = post(client, "/hooks/p/webhook/news")
    purge_test_queue()
    assert delivered.status_code == 202, delivered.content
    assert str(Execution.objects.get().trigger.uuid) == instance["trigger_instance_id"]


@pytest.mark.parametrize("origin", [TriggerOrigin.MANAGEMENT, TriggerOrigin.ADMIN])
def test_no_other_surfaces_webhook_opens_by_its_uuid(client, acme, make_trigger, origin):
    trigger = make_trigger(acme, "webhook", origin=origin)

    assert_refused_and_nothing_stored(post(client, f"/v1/webhooks/{trigger.uuid}"))


def test_a_refused_uuid_stays_refused_after_the_trigger_delivered(client, acme, make_trigger):
    """This process remembers triggers it served, by URL (webhooks/delivery.py): a delivery
    by token must not make the uuid a way in."""
    trigger = make_trigger(acme, "webhook")
    assert post(client, f"/hooks/{trigger.webhook_endpoint.token}").status_code == 202
    purge_test_queue()

    response = post(client, f"/v1/webhooks/{trigger.uuid}")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert Execution.objects.count() == 1


def test_a_provider_api_project_trigger_still_takes_deliveries_by_its_uuid(
    alice_client, client, acme_project
):
    created = alice_client.post(
        f"/projects/{acme_project.public_id}/triggers",
        {"provider_id": "builtin", "trigger_id": "webhook", "trigger_config": {}},
        format="json",
    )
    assert created.status_code == 201, created.content
    uuid = created.json()["project_trigger_id"]
    assert alice_client.post(f"/triggers/{uuid}/enable").status_code == 200

    delivered = post(client, f"/v1/webhooks/{uuid}")
    purge_test_queue()

    # 202 until issue 26 makes a project trigger's delivery answer 200: either is "stored".
    assert delivered.status_code in (200, 202), delivered.content
    assert str(Execution.objects.get().trigger.uuid) == uuid
