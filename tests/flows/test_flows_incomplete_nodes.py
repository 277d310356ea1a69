"""A node may be created and edited incomplete (a flow editor drops it on the canvas, then
fills it in); its issues are reported on every node body, and only switching the flow on
is refused while a node is incomplete."""

import pytest

from accounts.services import project_create
from flows import services
from flows.models import Flow, Node

MISSING_FLOW_ID = [{"field": "parameters.flowId", "message": "is required"}]


def error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"statusCode", "message", "error"}
    return body["message"]


@pytest.fixture
def other(acme, acme_project):
    """A second flow of acme, for CallFlow nodes to call."""
    return services.flow_create(
        tenant=acme, app=acme_project, name="B", tool_name="b", tool_description="b"
    )


@pytest.fixture
def switched_off(flow):
    return services.flow_update(flow=flow, is_active=False)


def nodes_by_id(body) -> dict:
    return {node["id"]: node for node in body["nodes"]}


def test_a_call_flow_node_without_flow_id_is_created_and_reported(alice_client, flow, add_node):
    intent = add_node("UserIntent")

    created = alice_client.post(
        f"/api/flows/{flow.id}/nodes",
        {"type": "CallFlow", "name": "Call B", "parameters": {}},
        format="json",
    )
    bare = alice_client.post(
        f"/api/flows/{flow.id}/nodes", {"type": "CallFlow", "name": "Call C"}, format="json"
    )

    assert created.status_code == 201, created.content
    assert bare.status_code == 201, bare.content
    assert created.json()["issues"] == bare.json()["issues"] == MISSING_FLOW_ID
    stored = Node.objects.get(pk=created.json()["id"])
    assert (stored.flow_id, stored.type, stored.parameters) == (flow.id, "CallFlow", {})
    assert Node.objects.get(pk=bare.json()["id"]).parameters == {}

    body = alice_client.get(f"/api/flows/{flow.id}").json()
    nodes = nodes_by_id(body)
    assert nodes[created.json()["id"]]["issues"] == MISSING_FLOW_ID
    assert nodes[str(intent.id)]["issues"] == []
    assert "incompleteNodes" not in body  # the issues live on the nodes only
    listed = nodes_by_id(alice_client.get("/api/flows").json()[0])
    assert listed[created.json()["id"]]["issues"] == MISSING_FLOW_ID


def test_activation_is_refused_naming_the_node_until_it_is_filled_in(
    alice_client, switched_off, other
):
    flow = switched_off
    node = alice_client.post(
        f"/api/flows/{flow.id}/nodes", {"type": "CallFlow", "name": "Call B"}, format="json"
    ).json()

    refused = alice_client.patch(f"/api/flows/{flow.id}", {"isActive": True}, format="json")

    assert error(refused, 400) == f"nodes[{node['id']}].parameters.flowId: is required"
    flow.refresh_from_db()
    assert flow.is_active is False

    filled = alice_client.patch(
        f"/api/flows/{flow.id}/nodes/{node['id']}",
        {"parameters": {"flowId": str(other.id)}},
        format="json",
    )
    assert filled.status_code == 200, filled.content
    assert filled.json()["issues"] == []
    assert Node.objects.get(pk=node["id"]).parameters == {"flowId": str(other.id)}

    activated = alice_client.patch(f"/api/flows/{flow.id}", {"isActive": True}, format="json")

    assert activated.status_code == 200, activated.content
    assert activated.json()["isActive"] is True
    flow.refresh_from_db()
    assert flow.is_active is True


def test_the_error_names_the_first_incomplete_node(alice_client, switched_off, add_node, other):
    add_node("CallFlow", parameters={"flowId": str(other.id)})
    first, _second = add_node("CallFlow", name="first"), add_node("CallFlow", name="second")

    refused = alice_client.patch(f"/api/flows/{switched_off.id}", {"isActive": True}, format="json")

    assert error(refused, 400) == f"nodes[{first.id}].parameters.flowId: is required"
    assert Flow.objects.get(pk=switched_off.pk).is_active is False


def test_a_flow_is_created_on_because_it_has_no_nodes_yet(alice_client, acme_project):
    created = alice_client.post(
        "/api/flows",
        {"appId": "support", "name": "New", "toolName": "new", "toolDescription": "d",
         "isActive": True},
        format="json",
    )  # fmt: skip

    assert created.status_code == 201, created.content
    assert created.json()["isActive"] is True
    assert Flow.objects.get(pk=created.json()["id"]).is_active is True


def test_an_active_flow_takes_incomplete_nodes_stays_on_and_reports_them(
    alice_client, flow, add_node, other
):
    assert flow.is_active is True
    complete = add_node("CallFlow", name="Call B", parameters={"flowId": str(other.id)})

    dropped = alice_client.post(
        f"/api/flows/{flow.id}/nodes", {"type": "CallFlow", "name": "New"}, format="json"
    )
    emptied = alice_client.patch(
        f"/api/flows/{flow.id}/nodes/{complete.id}", {"parameters": {}}, format="json"
    )

    assert dropped.status_code == 201, dropped.content
    assert emptied.status_code == 200, emptied.content
    assert emptied.json()["issues"] == MISSING_FLOW_ID
    complete.refresh_from_db()
    assert complete.parameters == {}
    flow.refresh_from_db()
    assert flow.is_active is True
    nodes = nodes_by_id(alice_client.get(f"/api/flows/{flow.id}").json())
    assert nodes[str(complete.id)]["issues"] == nodes[dropped.json()["id"]]["issues"]
    assert nodes[str(complete.id)]["issues"] == MISSING_FLOW_ID

    # Other fields still change; asking for isActive: true is refused like any activation.
    renamed = alice_client.patch(f"/api/flows/{flow.id}", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200, renamed.content
    refused = alice_client.patch(
        f"/api/flows/{flow.id}", {"name": "Again", "isActive": True}, format="json"
    )
    assert error(refused, 400) == f"nodes[{complete.id}].parameters.flowId: is required"
    flow.refresh_from_db()
    assert (flow.name, flow.is_active) == ("Renamed", True)
    switched_off = alice_client.patch(f"/api/flows/{flow.id}", {"isActive": False}, format="json")
    assert switched_off.status_code == 200
    flow.refresh_from_db()
    assert flow.is_active is False


def test_a_null_flow_id_clears_the_choice(alice_client, flow, add_node, other):
    node = add_node("CallFlow", parameters={"flowId": str(other.id), "input": {"q": "x"}})

    response = alice_client.patch(
        f"/api/flows/{flow.id}/nodes/{node.id}",
        {"parameters": {"flowId": None, "input": {"q": "x"}}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["issues"] == MISSING_FLOW_ID
    node.refresh_from_db()
    assert node.parameters == {"input": {"q": "x"}}


def test_given_parameters_are_still_checked_when_a_node_is_updated(
    alice_client, flow, add_node, other, globex
):
    foreign = services.flow_create(
        tenant=globex, app=project_create(tenant=globex, name="G", public_id="g"),
        name="G", tool_name="g", tool_description="g",
    )  # fmt: skip
    add_node("CallFlow", parameters={"flowId": str(flow.id)}, on=other)  # B calls A
    node = add_node("CallFlow")
    cases = [
        ({"flowId": 5}, "parameters.flowId: must be a string"),
        ({"flowId": "not-a-uuid"}, "parameters.flowId: Must be a flow id."),
        ({"flowId": str(foreign.id)}, "parameters.flowId: Unknown flow."),
        ({"flowId": str(other.id)}, "parameters.flowId: Calling this flow would create a cycle."),
        ({"flowId": str(flow.id)}, "parameters.flowId: Calling this flow would create a cycle."),
        ({"target": "b"}, "parameters.target: unknown parameter"),
    ]

    for parameters, message in cases:
        response = alice_client.patch(
            f"/api/flows/{flow.id}/nodes/{node.id}", {"parameters": parameters}, format="json"
        )
        assert error(response, 400) == message
        node.refresh_from_db()
        assert node.parameters == {}
