"""Another tenant's user gets 404 on every flow, node and connection endpoint."""

import pytest

from flows.models import Connection, Flow, Node
from flows.services import connection_create


@pytest.fixture
def graph(flow, add_node):
    intent, screen = add_node("UserIntent"), add_node("Interface")
    link = connection_create(flow=flow, source_id=intent.id, target_id=screen.id)
    return {"flow": flow.id, "node": screen.id, "intent": intent.id, "connection": link.id}


ENDPOINTS = [
    ("get", "/api/flows/{flow}", None),
    ("patch", "/api/flows/{flow}", {"name": "hijacked"}),
    ("delete", "/api/flows/{flow}", None),
    ("post", "/api/flows/{flow}/nodes", {"type": "Return", "name": "x"}),
    ("patch", "/api/flows/{flow}/nodes/{node}", {"name": "hijacked"}),
    ("delete", "/api/flows/{flow}/nodes/{node}", None),
    ("get", "/api/flows/{flow}/connections", None),
    (
        "post",
        "/api/flows/{flow}/connections",
        {"sourceNodeId": "{intent}", "targetNodeId": "{node}"},
    ),
    ("delete", "/api/flows/{flow}/connections/{connection}", None),
]


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS)
def test_another_tenant_gets_404(charlie_client, graph, method, template, body):
    before = (Flow.objects.count(), Node.objects.count(), Connection.objects.count(),
              list(Flow.objects.values_list("name", flat=True)))  # fmt: skip
    if body:
        body = {k: v.format(**graph) if isinstance(v, str) else v for k, v in body.items()}

    response = getattr(charlie_client, method)(template.format(**graph), body, format="json")

    assert response.status_code == 404, response.content
    assert response.json()["statusCode"] == 404
    after = (Flow.objects.count(), Node.objects.count(), Connection.objects.count(),
             list(Flow.objects.values_list("name", flat=True)))  # fmt: skip
    assert after == before


def test_lists_never_show_another_tenants_flows(charlie_client, graph):
    assert charlie_client.get("/api/flows").json() == []


def test_a_node_of_another_flow_is_404_under_this_flow(alice_client, graph, acme, acme_project):
    from flows.services import flow_create

    other = flow_create(
        tenant=acme, app=acme_project, name="B", tool_name="b", tool_description="b"
    )
    response = alice_client.patch(
        f"/api/flows/{other.id}/nodes/{graph['node']}", {"name": "x"}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/api/flows/not-a-uuid", "/api/flows/{flow}/nodes/x%C2%84", "/api/flows/%C2%84/connections"],
)
def test_ids_that_are_not_uuids_are_404_in_the_seed_shape(alice_client, graph, path):
    response = alice_client.get(path.format(**graph))
    if "nodes" in path:
        response = alice_client.patch(path.format(**graph), {"name": "x"}, format="json")
    assert response.status_code == 404
    assert set(response.json()) == {"statusCode", "message", "error"}
