"""Input that used to answer 500 on the REST API (issue 19, finding 3): each is a 400 naming
the field, in the surface's own format, and nothing is stored."""

import json

import pytest

from flows import services as flow_services
from flows.models import Node
from triggers.models import Trigger

DEEP = "[" * 1_000 + "]" * 1_000

# (what, the JSON text of a value, words the message names)
UNSTORABLE = [
    ("lone surrogate", '{"a": "\\ud800"}', ["surrogate", "/a"]),
    ("1e999", '{"n": 1e999}', ["not finite", "/n"]),
    ("nul", '{"a": ["\\u0000"]}', ["NUL", "/a/0"]),
    ("1,000 levels", '{"d": ' + DEEP + "}", ["deeper than 100", ""]),
]


@pytest.fixture
def flow(acme, acme_project):
    return flow_services.flow_create(
        tenant=acme, app=acme_project, name="F", tool_name="f", tool_description="d"
    )


def raw_post(client, path, text):
    return client.generic("POST", path, text, content_type="application/json")


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *"])
def test_a_cron_that_never_fires_is_a_400_naming_the_field(alice_client, cron):
    body = {"name": "Never", "trigger_type": "schedule", "custom_cron_expression": cron}

    response = alice_client.post("/api/triggers", body, format="json")

    assert response.status_code == 400, response.content
    assert "never fires" in response.json()["custom_cron_expression"][0]
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("text", "words"), [c[1:] for c in UNSTORABLE], ids=[c[0] for c in UNSTORABLE]
)
def test_an_unstorable_custom_task_is_a_400_naming_the_field(alice_client, text, words):
    body = '{"name": "T", "trigger_type": "webhook", "custom_task": ' + text + "}"

    response = raw_post(alice_client, "/api/triggers", body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    [message] = response.json()["custom_task"]
    assert message.startswith("Cannot be stored:")
    assert all(word in message for word in words)
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("text", "words"), [c[1:] for c in UNSTORABLE], ids=[c[0] for c in UNSTORABLE]
)
def test_unstorable_node_parameters_are_a_400_in_the_flows_format(alice_client, flow, text, words):
    body = '{"type": "Interface", "name": "n", "parameters": ' + text + "}"

    response = raw_post(alice_client, f"/api/flows/{flow.id}/nodes", body)

    assert response.status_code == 400, response.content
    error = response.json()
    assert set(error) == {"statusCode", "message", "error"}
    assert error["message"].startswith("parameters: Cannot be stored:")
    assert all(word in error["message"] for word in words)
    assert not Node.objects.filter(flow=flow).exists()


def test_a_body_too_deep_for_any_field_is_a_400(alice_client):
    response = raw_post(alice_client, "/api/triggers", "[" * 10_000 + "]" * 10_000)

    assert response.status_code == 400
    assert "deeper than 100" in response.json()["detail"]


def test_ten_megabytes_to_the_api_are_a_413_in_its_json(alice_client):
    body = json.dumps({"name": "x" * (10 * 1024 * 1024), "trigger_type": "webhook"})

    response = raw_post(alice_client, "/api/triggers", body)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The request body is too large."}
    assert not Trigger.objects.exists()
