"""Seed 004 over HTTP: every request and response as written, and every rule."""

import pytest

from flows.models import Connection, Flow, Node
from flows.services import TRIGGER_TARGET_MESSAGE

INTENT = {"whenToUse": "When user wants to search for products",
          "whenNotToUse": "When user is browsing categories"}  # fmt: skip


def error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"statusCode", "message", "error"}
    assert body["statusCode"] == status
    return body["message"]


def test_create_and_get_a_flow_with_nodes_and_connections(alice_client, acme_project):
    created = alice_client.post(
        "/api/flows",
        {"appId": "support", "name": "Search Products", "toolName": "search_products",
         "toolDescription": "Search for products in the catalog",
         "parameters": [{"name": "query", "type": "string", "required": True}]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    flow_id = created.json()["id"]

    node = alice_client.post(
        f"/api/flows/{flow_id}/nodes",
        {"type": "UserIntent", "name": "User Intent", "position": {"x": 50, "y": 200},
         "parameters": INTENT},
        format="json",
    )  # fmt: skip
    assert node.status_code == 201, node.content
    assert node.json() == {
        "id": node.json()["id"], "type": "UserIntent", "name": "User Intent",
        "position": {"x": 50.0, "y": 200.0}, "parameters": INTENT, "issues": [],
    }  # fmt: skip
    screen = alice_client.post(
        f"/api/flows/{flow_id}/nodes", {"type": "Interface", "name": "Results"}, format="json"
    ).json()
    link = alice_client.post(
        f"/api/flows/{flow_id}/connections",
        {"sourceNodeId": node.json()["id"], "targetNodeId": screen["id"]},
        format="json",
    )
    assert link.status_code == 201, link.content

    body = alice_client.get(f"/api/flows/{flow_id}").json()
    assert set(body) == {
        "id", "appId", "name", "description", "toolName", "toolDescription", "isActive",
        "parameters", "nodes", "connections", "createdAt", "updatedAt",
    }  # fmt: skip
    assert "whenToUse" not in body and "whenNotToUse" not in body
    assert body["appId"] == "support" and body["isActive"] is True
    assert body["parameters"] == [
        {"name": "query", "type": "string", "description": "", "required": True}
    ]
    assert [n["type"] for n in body["nodes"]] == ["UserIntent", "Interface"]
    assert body["connections"] == [
        {"id": link.json()["id"], "sourceNodeId": node.json()["id"], "sourceHandle": "main",
         "targetNodeId": screen["id"], "targetHandle": "main"}
    ]  # fmt: skip
    listed = alice_client.get("/api/flows")
    assert [f["id"] for f in listed.json()] == [flow_id]
    assert listed["X-Total-Count"] == "1"


def test_patch_updates_a_flow_and_refuses_flow_level_intents(alice_client, flow):
    updated = alice_client.patch(
        f"/api/flows/{flow.id}",
        {"name": "Updated Name", "toolDescription": "Updated description"},
        format="json",
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["toolDescription"]) == (
        "Updated Name", "Updated description",
    )  # fmt: skip

    refused = alice_client.patch(f"/api/flows/{flow.id}", {"whenToUse": "x"}, format="json")
    assert error(refused, 400) == "whenToUse: Cannot be changed."
    flow.refresh_from_db()
    assert flow.legacy_when_to_use == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"toolName": "2 bad"}, "toolName: Must be a valid tool identifier"),
        ({"appId": "nope"}, "appId: Unknown app."),
        (
            {"toolName": "search_products"},
            "toolName: A flow of this app already has this toolName.",
        ),
        ({"parameters": [{"name": "q", "type": "date"}]}, "parameters[0].type: Must be one of"),
        ({"isActive": "false"}, "isActive: Must be a valid boolean."),
        ({"toolDescription": 7}, "toolDescription: Not a valid string."),
    ],
)
def test_bad_flows_are_400_and_nothing_is_stored(alice_client, flow, body, message):
    payload = {"appId": "support", "name": "Another", "toolName": "another",
               "toolDescription": "d", **body}  # fmt: skip
    assert error(alice_client.post("/api/flows", payload, format="json"), 400).startswith(message)
    assert Flow.objects.count() == 1


def test_patch_a_user_intent_node(alice_client, flow, add_node):
    node = add_node("UserIntent", parameters=INTENT)

    response = alice_client.patch(
        f"/api/flows/{flow.id}/nodes/{node.id}",
        {"name": "Custom Intent Name",
         "parameters": {"whenToUse": "Updated conditions", "whenNotToUse": "Updated exclusions"}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200
    node.refresh_from_db()
    assert node.name == "Custom Intent Name"
    assert node.parameters == {"whenToUse": "Updated conditions",
                               "whenNotToUse": "Updated exclusions"}  # fmt: skip


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"type": "UserIntent", "parameters": {"whenToUse": "x" * 501}},
         "parameters.whenToUse: must be at most 500 characters"),
        ({"type": "UserIntent", "parameters": {"when": "x"}}, "parameters.when: unknown parameter"),
        ({"type": "Webhook"}, "type: \"Webhook\" is not a valid choice."),
        ({"type": "Return", "parameters": {"value": 5}}, "parameters.value: must be a string"),
        ({"type": "CallFlow", "parameters": {"flowId": 5}}, "parameters.flowId: must be a string"),
        ({"type": "CallFlow", "parameters": {"flowId": "nope"}},
         "parameters.flowId: Must be a flow id."),
        ({"type": "Return", "position": {"x": "10", "y": 0}},
         "position.x: A valid number is required."),
    ],
)  # fmt: skip
def test_bad_nodes_are_400_and_nothing_is_stored(alice_client, flow, node, message):
    response = alice_client.post(
        f"/api/flows/{flow.id}/nodes", {"name": "n", **node}, format="json"
    )
    assert error(response, 400) == message
    assert not Node.objects.exists()


def test_a_return_node_holds_its_text(alice_client, flow):
    response = alice_client.post(
        f"/api/flows/{flow.id}/nodes",
        {"type": "Return", "name": "Done", "parameters": {"value": "All set."}},
        format="json",
    )
    assert response.status_code == 201
    assert Node.objects.get().parameters == {"value": "All set."}


def test_call_flow_must_name_a_flow_of_the_tenant_without_a_cycle(
    alice_client, acme, acme_project, flow, add_node, globex
):
    from accounts.services import project_create
    from flows.services import flow_create

    other = flow_create(
        tenant=acme, app=acme_project, name="B", tool_name="b", tool_description="b"
    )
    foreign_app = project_create(tenant=globex, name="G", public_id="g")
    foreign = flow_create(
        tenant=globex, app=foreign_app, name="G", tool_name="g", tool_description="g"
    )
    add_node("CallFlow", parameters={"flowId": str(flow.id)}, on=other)  # B calls A

    def call(target):
        return alice_client.post(
            f"/api/flows/{flow.id}/nodes",
            {"type": "CallFlow", "name": "call", "parameters": {"flowId": str(target)}},
            format="json",
        )

    assert error(call(foreign.id), 400) == "parameters.flowId: Unknown flow."
    assert error(call(flow.id), 400) == "parameters.flowId: Calling this flow would create a cycle."
    assert (
        error(call(other.id), 400) == "parameters.flowId: Calling this flow would create a cycle."
    )
    assert Node.objects.filter(flow=flow).count() == 0


@pytest.mark.parametrize("written", ["urn:uuid:{}", "{{{}}}", "UPPER", "HEX"])
def test_a_called_flows_id_is_stored_as_the_flow_shows_it(
    alice_client, acme, acme_project, flow, written
):
    from flows.services import flow_create

    called = flow_create(
        tenant=acme, app=acme_project, name="B", tool_name="b", tool_description="b"
    )
    given = {"UPPER": str(called.id).upper(), "HEX": called.id.hex}.get(written) or written.format(
        called.id
    )

    response = alice_client.post(
        f"/api/flows/{flow.id}/nodes",
        {"type": "CallFlow", "name": "call", "parameters": {"flowId": given}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["parameters"]["flowId"] == str(called.id)
    assert Node.objects.get(flow=flow).parameters["flowId"] == str(called.id)


def test_a_connection_to_a_user_intent_node_gets_the_seeds_400_body(alice_client, flow, add_node):
    screen, intent = add_node("Interface"), add_node("UserIntent")

    response = alice_client.post(
        f"/api/flows/{flow.id}/connections",
        {"sourceNodeId": str(screen.id), "sourceHandle": "action:submit",
         "targetNodeId": str(intent.id)},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": TRIGGER_TARGET_MESSAGE,
        "error": "Bad Request",
    }
    assert TRIGGER_TARGET_MESSAGE == (
        "Cannot create connection to trigger node. Trigger nodes do not accept incoming "
        "connections."
    )
    assert not Connection.objects.exists()


def test_connection_rules(alice_client, flow, add_node, acme, acme_project):
    from flows.services import flow_create

    intent, screen, done = add_node("UserIntent"), add_node("Interface"), add_node("Return")
    elsewhere = add_node("Interface", on=flow_create(
        tenant=acme, app=acme_project, name="B", tool_name="b", tool_description="b"))  # fmt: skip

    def connect(source, target, source_handle="main", target_handle="main"):
        return alice_client.post(
            f"/api/flows/{flow.id}/connections",
            {"sourceNodeId": str(source.id), "sourceHandle": source_handle,
             "targetNodeId": str(target.id), "targetHandle": target_handle},
            format="json",
        )  # fmt: skip

    assert error(connect(screen, screen, "action:click"), 400) == "A node cannot connect to itself."
    assert error(connect(screen, done, "main"), 400) == (
        "sourceHandle: 'main' is not an output of a Interface node."
    )
    assert error(connect(intent, done, "main", "other"), 400) == (
        "targetHandle: 'other' is not an input of a Return node."
    )
    assert error(connect(done, screen), 400) == (
        "sourceHandle: 'main' is not an output of a Return node."
    )
    assert error(connect(intent, elsewhere), 400) == "Both nodes must belong to this flow."
    assert connect(intent, screen).status_code == 201
    assert error(connect(intent, screen), 400) == "These nodes are already connected this way."
    assert connect(screen, done, "action:submit").status_code == 201
    assert Connection.objects.count() == 2

    listed = alice_client.get(f"/api/flows/{flow.id}/connections").json()
    assert len(listed) == 2
    deleted = alice_client.delete(f"/api/flows/{flow.id}/connections/{listed[0]['id']}")
    assert deleted.status_code == 204 and Connection.objects.count() == 1
    assert alice_client.delete(f"/api/flows/{flow.id}/nodes/{screen.id}").status_code == 204
    assert not Connection.objects.exists()  # gone with its node
    assert alice_client.delete(f"/api/flows/{flow.id}").status_code == 204
    assert not Node.objects.filter(flow=flow).exists()


def test_node_types_come_from_the_registry(alice_client):
    body = alice_client.get("/api/node-types").json()

    assert [t["name"] for t in body["nodeTypes"]] == [
        "UserIntent",
        "Interface",
        "CallFlow",
        "Return",
    ]
    assert body["nodeTypes"][0] == {
        "name": "UserIntent", "displayName": "User Intent",
        "description": "Defines when the AI should trigger this flow based on user intent",
        "icon": "zap", "category": "trigger", "inputs": [], "outputs": ["main"],
    }  # fmt: skip
    assert body["nodeTypes"][1]["outputs"] == ["action:submit", "action:click", "action:select"]
    assert body["categories"] == [
        {"id": "trigger", "displayName": "Triggers", "order": 1},
        {"id": "interface", "displayName": "Agentic Interfaces", "order": 2},
        {"id": "action", "displayName": "Actions", "order": 3},
        {"id": "return", "displayName": "Return Values", "order": 4},
    ]


def test_viewers_read_and_anonymous_callers_get_401_in_the_seed_shape(bob_client, client, flow):
    assert bob_client.get(f"/api/flows/{flow.id}").status_code == 200
    assert error(bob_client.patch(f"/api/flows/{flow.id}", {"name": "x"}, format="json"), 403)
    assert error(client.get("/api/flows"), 401)
