import pytest
from django.core.exceptions import ValidationError

from accounts.encryption import decrypt_secret
from accounts.models import Agent, Credential, Project
from accounts.services import agent_create
from triggers.models import Trigger


def test_it_creates_and_lists_projects(alice_client, acme):
    response = alice_client.post("/api/projects", {"id": "sales", "name": "Sales"}, format="json")
    assert response.status_code == 201
    assert response.json()["id"] == "sales"
    assert Project.objects.get(tenant=acme, public_id="sales").name == "Sales"

    generated = alice_client.post("/api/projects", {"name": "Ops"}, format="json").json()
    assert generated["id"].startswith("prj_")

    listed = alice_client.get("/api/projects")
    assert listed.status_code == 200
    assert sorted(p["id"] for p in listed.json()) == sorted(["sales", generated["id"]])
    assert listed["X-Total-Count"] == "2"
    assert alice_client.get("/api/projects/sales").json()["name"] == "Sales"


def test_it_refuses_bad_or_duplicate_project_ids(alice_client, acme, acme_project):
    bad = alice_client.post("/api/projects", {"id": "no spaces", "name": "x"}, format="json")
    assert bad.status_code == 400 and "id" in bad.json()
    dup = alice_client.post("/api/projects", {"id": "support", "name": "x"}, format="json")
    assert dup.status_code == 400 and "id" in dup.json()
    assert Project.objects.filter(tenant=acme).count() == 1


def test_project_ids_are_per_tenant(alice_client, charlie_client, acme_project, globex):
    response = charlie_client.post(
        "/api/projects", {"id": "support", "name": "Globex support"}, format="json"
    )
    assert response.status_code == 201
    assert Project.objects.filter(public_id="support").count() == 2


def test_it_creates_lists_and_deletes_agents(alice_client, acme, acme_project, make_trigger):
    response = alice_client.post(
        "/api/agents", {"id": "bot", "project": "support", "name": "Bot"}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": "bot",
        "project": "support",
        "name": "Bot",
        "created_at": response.json()["created_at"],
    }
    agent = Agent.objects.get(tenant=acme, public_id="bot")
    trigger = make_trigger(acme, agent=agent, project=acme_project)

    assert [a["id"] for a in alice_client.get("/api/agents").json()] == ["bot"]
    assert alice_client.delete("/api/agents/bot").status_code == 204

    agent.refresh_from_db()
    trigger.refresh_from_db()
    assert agent.is_pending_deletion
    assert trigger.status == "stale" and trigger.next_fire_at is None
    assert "pending deletion" in trigger.error_message
    # Pending deletion means gone for the API.
    assert alice_client.get("/api/agents").json() == []
    assert alice_client.get("/api/agents/bot").status_code == 404
    assert alice_client.delete("/api/agents/bot").status_code == 404


def test_it_refuses_an_agent_in_an_unknown_project(alice_client, acme):
    response = alice_client.post("/api/agents", {"project": "nope", "name": "Bot"}, format="json")
    assert response.status_code == 400 and "project" in response.json()
    assert not Agent.objects.exists()


def test_it_refuses_an_agent_in_another_tenants_project(charlie_client, acme_project, globex):
    response = charlie_client.post(
        "/api/agents", {"project": "support", "name": "Bot"}, format="json"
    )
    assert response.status_code == 400 and "project" in response.json()
    assert not Agent.objects.exists()


def test_credentials_are_write_only_and_encrypted(alice_client, acme):
    secret = "s3cr3t-signing-value"
    response = alice_client.post(
        "/api/credentials", {"name": "github", "value": secret}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "provider_id", "created_at", "updated_at"}
    assert secret not in response.content.decode()

    stored = Credential.objects.get(pk=body["id"])
    assert secret not in stored.encrypted_value
    assert decrypt_secret(stored.encrypted_value) == secret

    for path in ("/api/credentials", f"/api/credentials/{body['id']}"):
        fetched = alice_client.get(path)
        assert fetched.status_code == 200
        assert secret not in fetched.content.decode()
        assert "value" not in (
            fetched.json()[0] if isinstance(fetched.json(), list) else fetched.json()
        )


def test_credential_names_are_unique_per_tenant(alice_client, acme):
    alice_client.post("/api/credentials", {"name": "k", "value": "1"}, format="json")
    again = alice_client.post("/api/credentials", {"name": "k", "value": "2"}, format="json")
    assert again.status_code == 400 and "name" in again.json()
    assert Credential.objects.filter(tenant=acme).count() == 1


def test_json_values_of_the_wrong_type_are_refused_not_coerced(alice_client, acme):
    # A secret sent as a number would be stored as its decimal text ("1e3" -> "1000.0").
    response = alice_client.post("/api/credentials", {"name": 5, "value": 1e3}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["Not a valid string."], "value": ["Not a valid string."]}
    assert not Credential.objects.exists()
    project = alice_client.post("/api/projects", {"name": ["x"]}, format="json")
    assert project.status_code == 400 and project.json() == {"name": ["Not a valid string."]}


def test_deleting_a_credential_makes_its_triggers_stale(alice_client, acme, make_trigger):
    created = alice_client.post(
        "/api/credentials", {"name": "k", "value": "1"}, format="json"
    ).json()
    secret = Credential.objects.get(pk=created["id"])
    trigger = make_trigger(acme, "webhook", signing_secret=secret)
    assert alice_client.delete(f"/api/credentials/{created['id']}").status_code == 204
    assert not Credential.objects.exists()
    trigger.refresh_from_db()
    assert trigger.status == "stale" and trigger.webhook_endpoint.signing_secret_id is None
    assert "'k' was deleted" in trigger.error_message


def test_deleting_an_agent_leaves_other_agents_triggers_alone(
    alice_client, acme, acme_project, acme_agent, make_trigger
):
    other = make_trigger(acme)
    alice_client.delete(f"/api/agents/{acme_agent.public_id}")
    other.refresh_from_db()
    assert other.status == "active"
    assert Trigger.objects.filter(status="stale").count() == 0


def test_the_service_refuses_an_agent_in_another_tenants_project(acme, globex, acme_project):
    with pytest.raises(ValidationError):
        agent_create(tenant=globex, project=acme_project, name="x")
    assert not Agent.objects.exists()
