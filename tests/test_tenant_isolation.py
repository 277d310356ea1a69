"""No tenant sees, changes or fires another tenant's objects: charlie (globex) gets 404
on every object endpoint of acme's objects, lists never show them, and nothing changes."""

import pytest

from accounts.models import Agent, Credential
from accounts.services import credential_create
from executions.models import Execution
from triggers.models import Trigger


@pytest.fixture
def acme_objects(acme, acme_project, acme_agent, make_trigger, alice_client):
    trigger = make_trigger(acme, "webhook", project=acme_project, agent=acme_agent)
    execution = alice_client.post(f"/api/triggers/{trigger.id}/test").json()
    credential = credential_create(tenant=acme, name="github", value="secret")
    return {
        "trigger": trigger.id,
        "execution": execution["id"],
        "credential": credential.id,
        "project": acme_project.public_id,
        "agent": acme_agent.public_id,
    }


OBJECT_ENDPOINTS = [
    ("get", "/api/triggers/{trigger}"),
    ("patch", "/api/triggers/{trigger}"),
    ("delete", "/api/triggers/{trigger}"),
    ("post", "/api/triggers/{trigger}/duplicate"),
    ("post", "/api/triggers/{trigger}/test"),
    ("get", "/api/triggers/{trigger}/executions"),
    ("get", "/api/executions/{execution}"),
    ("post", "/api/executions/{execution}/cancel"),
    ("get", "/api/projects/{project}"),
    ("get", "/api/agents/{agent}"),
    ("delete", "/api/agents/{agent}"),
    ("get", "/api/credentials/{credential}"),
    ("delete", "/api/credentials/{credential}"),
]


@pytest.mark.parametrize(("method", "template"), OBJECT_ENDPOINTS)
def test_another_tenant_gets_404(charlie_client, acme_objects, method, template):
    before = (
        Trigger.objects.count(),
        Execution.objects.count(),
        Credential.objects.count(),
        Agent.objects.filter(deletion_requested_at__isnull=True).count(),
        list(Trigger.objects.values_list("name", "status")),
    )
    path = template.format(**acme_objects)
    response = getattr(charlie_client, method)(
        path, {"name": "hijacked", "status": 0}, format="json"
    )
    assert response.status_code == 404, (path, response.status_code)
    after = (
        Trigger.objects.count(),
        Execution.objects.count(),
        Credential.objects.count(),
        Agent.objects.filter(deletion_requested_at__isnull=True).count(),
        list(Trigger.objects.values_list("name", "status")),
    )
    assert after == before


@pytest.mark.parametrize(
    "path", ["/api/triggers", "/api/projects", "/api/agents", "/api/credentials"]
)
def test_lists_never_show_another_tenants_objects(charlie_client, alice_client, acme_objects, path):
    assert alice_client.get(path).json() != []
    response = charlie_client.get(path)
    assert response.status_code == 200
    assert response.json() == []


def test_unknown_paths_answer_json_404(alice_client, settings):
    settings.DEBUG = False
    response = alice_client.get("/api/agents/%C2%84")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
