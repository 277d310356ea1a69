"""The user-intent migration on a database seeded with legacy flows: some with intents,
some without, one invalid. Command, endpoint and admin action run the same service."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create
from flows.models import Connection, Flow, Node
from flows.services import flow_create, node_create, user_intents_migrate


@pytest.fixture
def legacy(acme, acme_project):
    """Four flows as the old API left them."""

    def make(tool_name, when="", when_not="", nodes=()):
        flow = flow_create(tenant=acme, app=acme_project, name=tool_name, tool_name=tool_name,
                           tool_description="d")  # fmt: skip
        Flow.objects.filter(pk=flow.pk).update(
            legacy_when_to_use=when, legacy_when_not_to_use=when_not
        )
        for node_type, x, y in nodes:
            node_create(flow=flow, type=node_type, name=f"{node_type}@{x}",
                        position={"x": x, "y": y})  # fmt: skip
        return flow

    return {
        "with_nodes": make("search", "When user searches", "When browsing",
                           nodes=[("Return", 600, 80), ("Interface", 300, 100)]),
        "empty": make("greet", when="When user says hello"),
        "without_intent": make("plain", nodes=[("Interface", 0, 0)]),
        "invalid": make("broken", when="x" * 501, nodes=[("Interface", 0, 0)]),
    }  # fmt: skip


def test_it_moves_intents_into_connected_nodes_and_reports_the_bad_flow(legacy):
    report = user_intents_migrate()

    assert (report.migrated_flows, report.created_nodes) == (2, 2)
    assert report.errors == [{
        "flowId": str(legacy["invalid"].id),
        "error": "parameters.whenToUse: must be at most 500 characters",
    }]  # fmt: skip
    searched = legacy["with_nodes"]
    intent = Node.objects.get(flow=searched, type="UserIntent")
    assert intent.parameters == {"whenToUse": "When user searches", "whenNotToUse": "When browsing"}
    # Left of the leftmost node (the Interface at x=300), at its height, connected to it.
    assert (intent.position_x, intent.position_y) == (50, 100)
    link = Connection.objects.get(flow=searched)
    assert (link.source, link.target.name) == (intent, "Interface@300")
    searched.refresh_from_db()
    assert (searched.legacy_when_to_use, searched.legacy_when_not_to_use) == ("", "")
    greeted = Node.objects.get(flow=legacy["empty"])
    assert (greeted.position_x, greeted.position_y) == (0, 0)
    assert greeted.parameters == {"whenToUse": "When user says hello"}
    assert not Node.objects.filter(flow=legacy["without_intent"], type="UserIntent").exists()
    broken = Flow.objects.get(pk=legacy["invalid"].pk)
    assert len(broken.legacy_when_to_use) == 501  # left as it was
    assert not Node.objects.filter(flow=broken, type="UserIntent").exists()


def test_running_it_twice_creates_nothing_new(legacy):
    user_intents_migrate()
    nodes, connections = Node.objects.count(), Connection.objects.count()

    again = user_intents_migrate()

    assert (again.migrated_flows, again.created_nodes) == (0, 0)
    assert len(again.errors) == 1  # the invalid flow still waits for a fix
    assert (Node.objects.count(), Connection.objects.count()) == (nodes, connections)


def test_the_command_dry_run_changes_nothing_and_the_real_run_reports_json(legacy):
    # One legacy flow cannot be migrated: each run reports it and fails (exit 1), so a
    # script sees it; the others are migrated all the same.
    out = StringIO()
    with pytest.raises(CommandError, match="1 flow"):
        call_command("migrate_user_intents", "--dry-run", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue())["migratedFlows"] == 2
    assert not Node.objects.filter(type="UserIntent").exists()
    assert Flow.objects.get(pk=legacy["empty"].pk).legacy_when_to_use == "When user says hello"

    out = StringIO()
    with pytest.raises(CommandError, match="1 flow"):
        call_command("migrate_user_intents", stdout=out, stderr=StringIO())
    report = json.loads(out.getvalue())
    assert (report["migratedFlows"], report["createdNodes"], len(report["errors"])) == (2, 2, 1)
    assert Node.objects.filter(type="UserIntent").count() == 2


def test_a_tenants_staff_user_cannot_migrate_another_tenants_flows(legacy, charlie_membership):
    # Issue 19, finding 4: a staff user of globex (not a superuser) changed acme's flows.
    charlie = charlie_membership.user
    charlie.is_staff = True
    charlie.save()
    _, token = api_token_create(membership=charlie_membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    refused = client.post("/api/admin/migrate-user-intents")

    assert refused.status_code == 403
    assert "superusers" in refused.json()["message"]
    assert not Node.objects.filter(type="UserIntent").exists()
    assert Flow.objects.get(pk=legacy["empty"].pk).legacy_when_to_use == "When user says hello"


def test_the_endpoint_is_superuser_only_and_idempotent(legacy, alice_client, admin_client):
    refused = alice_client.post("/api/admin/migrate-user-intents")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Forbidden"
    assert not Node.objects.filter(type="UserIntent").exists()

    first = admin_client.post("/api/admin/migrate-user-intents")
    second = admin_client.post("/api/admin/migrate-user-intents")

    assert first.status_code == 200
    assert (first.json()["migratedFlows"], first.json()["createdNodes"]) == (2, 2)
    assert first.json()["errors"][0]["flowId"] == str(legacy["invalid"].id)
    assert (second.json()["migratedFlows"], second.json()["createdNodes"]) == (0, 0)


def test_the_admin_action_migrates_the_selected_flows(legacy, admin_client):
    url = reverse("admin:flows_flow_changelist")

    response = admin_client.post(
        url, {"action": "migrate_user_intents", "_selected_action": [legacy["empty"].pk]}
    )

    assert response.status_code == 302
    assert Node.objects.filter(type="UserIntent").count() == 1
    assert Node.objects.get(type="UserIntent").flow_id == legacy["empty"].pk
    page = admin_client.get(reverse("admin:flows_flow_change", args=[legacy["with_nodes"].pk]))
    assert page.status_code == 200 and b"Interface@300" in page.content


def test_a_flow_with_an_incomplete_node_migrates(acme, acme_project):
    flow = flow_create(tenant=acme, app=acme_project, name="call", tool_name="call",
                       tool_description="d")  # fmt: skip
    Flow.objects.filter(pk=flow.pk).update(legacy_when_to_use="When user asks for B")
    call = node_create(flow=flow, type="CallFlow", name="Call B", position={"x": 300, "y": 40})

    report = user_intents_migrate()

    assert (report.migrated_flows, report.created_nodes, report.errors) == (1, 1, [])
    intent = Node.objects.get(flow=flow, type="UserIntent")
    assert (intent.position_x, intent.position_y) == (50, 40)
    assert Connection.objects.get(flow=flow).target == call
    call.refresh_from_db()
    assert call.parameters == {}  # still waiting for its flowId, untouched
