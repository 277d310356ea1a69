"""The provider API over HTTP: the catalog, project triggers, the shared /triggers paths, test
samples and the OAuth2 password flow."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Project
from accounts.services import credential_create, tenant_member_ensure
from executions.models import Execution
from triggers.models import Trigger

SHARED_KEYS = {
    # the agent API's TriggerInstanceResponse
    "trigger_instance_id", "agent_id", "trigger_id", "status", "config", "config_hash",
    "error_message", "error_at", "created_at", "updated_at",
    "paused_at", "paused_by", "pause_note", "paused_until",
    # the provider API's project trigger
    "project_trigger_id", "project_id", "project_name", "connection_id", "provider_id",
    "trigger_config", "webhook_data", "cursor_data", "created_by", "updated_by",
}  # fmt: skip
CATALOG_KEYS = {
    "trigger_type", "provider_id", "trigger_id", "trigger_name", "description", "instructions",
    "icon", "tags", "version", "webhook_requires_verification", "can_get_test_samples",
    "trigger_config_schema",
}  # fmt: skip


@pytest.fixture
def stripe_connection(acme):
    return credential_create(tenant=acme, name="stripe", value="whsec_test", provider_id="stripe")


@pytest.fixture
def stripe_trigger(alice_client, acme_project, stripe_connection):
    response = alice_client.post(
        "/projects/support/triggers",
        {"provider_id": "stripe", "trigger_id": "on_customer_created",
         "connection_id": str(stripe_connection.pk)},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()


# -- the catalog -------------------------------------------------------------------------------


def test_a_providers_catalog_is_public_with_the_contracts_fields():
    response = APIClient().get("/providers/stripe/triggers")

    assert response.status_code == 200
    entries = response.json()
    assert [e["trigger_id"] for e in entries] == [
        "on_customer_created", "on_payment_succeeded", "on_invoice_paid",
    ]  # fmt: skip
    assert set(entries[0]) == CATALOG_KEYS
    assert entries[0]["trigger_type"] == "webhook" and entries[0]["can_get_test_samples"] is True


def test_one_catalog_entry_and_its_config_form():
    entry = APIClient().get("/providers/slack/triggers/on_message").json()

    assert entry["webhook_requires_verification"] is True
    properties = entry["trigger_config_schema"]["properties"]
    # Its own keys, and the filter, concurrency key, debounce and throttle every event type
    # takes (triggers/event_rules.py, triggers/cost_control.py).
    assert set(properties) == {
        "team_id",
        "channel_id",
        "filter",
        "concurrency",
        "debounce",
        "throttle",
    }
    assert all(p["title"] and p["description"] for p in properties.values())


@pytest.mark.parametrize(
    "path", ["/providers/nobody/triggers", "/providers/stripe/triggers/on_nothing",
             "/providers/slack/triggers/event"],
)  # fmt: skip
def test_unknown_catalog_paths_are_404(path):
    assert APIClient().get(path).status_code == 404


# -- project triggers -------------------------------------------------------------------------


def test_a_project_trigger_is_created_disabled_with_its_key_shown_once(
    stripe_trigger, alice_client, stripe_connection
):
    assert set(stripe_trigger) == SHARED_KEYS | {"api_key"}
    assert stripe_trigger["status"] == "DISABLED"
    assert stripe_trigger["connection_id"] == str(stripe_connection.pk)
    assert (stripe_trigger["provider_id"], stripe_trigger["trigger_id"]) == (
        "stripe", "on_customer_created",
    )  # fmt: skip
    assert stripe_trigger["project_id"] == "support" and stripe_trigger["agent_id"] is None
    assert stripe_trigger["api_key"].startswith("trk_")
    trigger = Trigger.objects.get()
    assert (trigger.origin, trigger.webhook_endpoint.signing_secret, trigger.connection) == (
        "provider", stripe_connection, stripe_connection,
    )  # fmt: skip
    again = alice_client.get(f"/triggers/{stripe_trigger['project_trigger_id']}").json()
    assert "api_key" not in again and stripe_trigger["api_key"] not in str(again)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"provider_id": "stripe", "trigger_id": "on_refund"}, "trigger_id"),
        ({"provider_id": "nobody", "trigger_id": "x"}, "trigger_id"),
        ({"provider_id": "slack", "trigger_id": "on_message",
          "trigger_config": {"channel": "C1"}}, "trigger_config.channel"),
        ({"provider_id": "slack", "trigger_id": "on_message",
          "trigger_config": {"team_id": 5}}, "trigger_config.team_id"),
        ({"provider_id": "schedule", "trigger_id": "on_schedule", "trigger_config": {}},
         "trigger_config.schedule"),
        ({"provider_id": "schedule", "trigger_id": "on_schedule",
          "trigger_config": {"schedule": "61 * * * *"}}, "trigger_config.schedule"),
        ({"provider_id": "stripe", "trigger_id": "on_invoice_paid",
          "connection_id": "7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d"}, "connection_id"),
    ],
)  # fmt: skip
def test_a_bad_create_is_a_400_naming_the_field(alice_client, acme_project, body, named):
    response = alice_client.post("/projects/support/triggers", body, format="json")

    assert response.status_code == 400, response.content
    assert named in response.json(), response.json()
    assert not Trigger.objects.exists()


def test_list_a_projects_triggers(alice_client, stripe_trigger):
    listed = alice_client.get("/projects/support/triggers")

    assert listed.status_code == 200
    assert [t["project_trigger_id"] for t in listed.json()] == [
        stripe_trigger["project_trigger_id"]
    ]
    nowhere = alice_client.get("/projects/nowhere/triggers")
    assert (nowhere.status_code, nowhere.json()) == (200, [])  # no trigger made for it yet


def test_a_project_the_tenant_has_not_named_is_made_with_its_first_trigger(alice_client, acme):
    body = {"provider_id": "stripe", "trigger_id": "on_invoice_paid"}

    refused = alice_client.post("/projects/new-shop/triggers", {**body, "trigger_id": "x"}, "json")
    assert refused.status_code == 400
    assert not Project.objects.filter(public_id="new-shop").exists()  # rolled back with it

    created = alice_client.post("/projects/new-shop/triggers", body, format="json")
    assert created.status_code == 201, created.content
    project = Project.objects.get(public_id="new-shop")
    assert (project.tenant, project.name) == (acme, "new-shop")
    assert created.json()["project_id"] == "new-shop"
    again = alice_client.post("/projects/new-shop/triggers", body, format="json")
    assert again.status_code == 201
    assert Project.objects.filter(public_id="new-shop").count() == 1
    listed = alice_client.get("/projects/new-shop/triggers").json()
    assert len(listed) == 2


def test_a_project_id_outside_the_pattern_is_a_400(alice_client, acme):
    body = {"provider_id": "stripe", "trigger_id": "on_invoice_paid"}

    response = alice_client.post("/projects/bad!id/triggers", body, format="json")

    assert response.status_code == 400 and "project_id" in response.json(), response.content
    assert not Project.objects.filter(public_id="bad!id").exists()


def test_triggers_of_the_organisation_carry_the_project_name(alice_client, stripe_trigger):
    body = alice_client.get("/triggers").json()

    assert [t["project_name"] for t in body] == ["Support"]
    assert set(body[0]) == SHARED_KEYS


def test_enable_disable_and_delete(alice_client, stripe_trigger):
    path = f"/triggers/{stripe_trigger['project_trigger_id']}"

    assert alice_client.post(f"{path}/enable").json()["status"] == "ENABLED"
    assert Trigger.objects.get().status == "active"
    assert alice_client.post(f"{path}/disable").json()["status"] == "DISABLED"
    assert alice_client.delete(path).status_code == 204
    assert not Trigger.objects.exists()
    assert alice_client.get(path).status_code == 404


def test_a_schedule_trigger_is_armed_when_enabled(alice_client, acme_project):
    created = alice_client.post(
        "/projects/support/triggers",
        {"provider_id": "schedule", "trigger_id": "on_schedule",
         "trigger_config": {"schedule": "0 9 * * *", "timezone": "Europe/Berlin"}},
        format="json",
    ).json()  # fmt: skip

    alice_client.post(f"/triggers/{created['project_trigger_id']}/enable")

    trigger = Trigger.objects.get()
    assert (trigger.cron_expression, trigger.timezone) == ("0 9 * * *", "Europe/Berlin")
    assert trigger.next_fire_at is not None
    assert created["trigger_config"] == {"schedule": "0 9 * * *", "timezone": "Europe/Berlin"}


# -- test samples -------------------------------------------------------------------------------


def test_samples_are_the_catalogs_until_deliveries_come(alice_client, stripe_trigger):
    path = f"/api/v0/project-triggers/{stripe_trigger['project_trigger_id']}/test-samples"

    before = alice_client.get(path).json()
    trigger = Trigger.objects.get()
    for n in range(7):
        Execution.objects.create(
            tenant=trigger.tenant, trigger=trigger, execution_type="webhook",
            request_payload={"body": {"n": n}},
        )  # fmt: skip
    after = alice_client.get(path).json()

    assert before["source"] == "catalog"
    assert before["samples"][0]["type"] == "customer.created"
    assert after == {"source": "received", "samples": [{"n": n} for n in (6, 5, 4, 3, 2)]}


# -- tenancy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/triggers/{id}"), ("delete", "/triggers/{id}"),
        ("post", "/triggers/{id}/enable"), ("post", "/triggers/{id}/disable"),
        ("get", "/api/v0/project-triggers/{id}/test-samples"),
    ],
)  # fmt: skip
def test_another_tenant_gets_404_for_every_path(charlie_client, stripe_trigger, method, path):
    before = list(Trigger.objects.values())
    body = {"provider_id": "stripe", "trigger_id": "on_invoice_paid"}

    response = getattr(charlie_client, method)(
        path.format(id=stripe_trigger["project_trigger_id"]), body, format="json"
    )

    assert response.status_code == 404
    assert list(Trigger.objects.values()) == before
    assert charlie_client.get("/triggers").json() == []


def test_project_ids_are_each_tenants_own(charlie_client, stripe_trigger, globex):
    body = {"provider_id": "stripe", "trigger_id": "on_invoice_paid"}

    seen = charlie_client.get("/projects/support/triggers").json()
    made = charlie_client.post("/projects/support/triggers", body, format="json")

    assert seen == []  # acme's project of that id is not globex's
    assert made.status_code == 201
    theirs = Trigger.objects.get(uuid=made.json()["project_trigger_id"])
    assert (theirs.tenant, theirs.project.tenant) == (globex, globex)
    ours = Trigger.objects.get(uuid=stripe_trigger["project_trigger_id"])
    assert ours.project.tenant_id != globex.pk
    assert [
        t["project_trigger_id"] for t in charlie_client.get("/projects/support/triggers").json()
    ] == [str(theirs.uuid)]


def test_another_tenants_connection_cannot_be_named(charlie_client, stripe_connection, globex):
    from accounts.services import project_create

    project_create(tenant=globex, name="Theirs", public_id="theirs")
    response = charlie_client.post(
        "/projects/theirs/triggers",
        {"provider_id": "stripe", "trigger_id": "on_invoice_paid",
         "connection_id": str(stripe_connection.pk)},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400 and "connection_id" in response.json()
    assert not Trigger.objects.exists()


# -- OAuth2 password flow -----------------------------------------------------------------------


@pytest.fixture
def dana(db):
    cache.clear()
    membership = tenant_member_ensure(username="dana", tenant_id="acme")
    membership.user.set_password("correct horse")
    membership.user.save()
    return membership.user


def token(client, **form):
    return client.post("/token", form)  # form-encoded, as Swagger UI and OAuth2 clients send


def test_the_swagger_ui_form_gives_a_bearer_token_that_works(dana, acme_project):
    client = APIClient()
    # What Swagger UI's Authorize posts for the OAuth2 password flow.
    response = token(client, grant_type="password", username="dana", password="correct horse",
                     scope="", client_id="", client_secret="")  # fmt: skip

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert client.get("/projects/support/triggers").status_code == 200


def test_wrong_credentials_are_401_and_repeats_are_slowed_down(dana, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = APIClient()

    wrong = [token(client, grant_type="password", username="dana", password="guess")
             for _ in range(3)]  # fmt: skip
    blocked = token(client, grant_type="password", username="dana", password="correct horse")

    assert [r.status_code for r in wrong] == [401, 401, 401]
    assert wrong[0]["WWW-Authenticate"] == "Bearer"
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0


def test_an_expired_token_no_longer_works(dana, acme_project, settings):
    from accounts.models import ApiToken

    body = token(
        APIClient(), grant_type="password", username="dana", password="correct horse"
    ).json()
    ApiToken.objects.update(expires_at="2020-01-01T00:00:00Z")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert client.get("/projects/support/triggers").status_code == 401


def test_a_member_of_several_tenants_chooses_one_by_scope(dana, globex):
    tenant_member_ensure(username="dana", tenant_id="globex")
    client = APIClient()

    ambiguous = token(client, grant_type="password", username="dana", password="correct horse")
    chosen = token(client, grant_type="password", username="dana", password="correct horse",
                   scope="tenant:globex")  # fmt: skip

    assert ambiguous.status_code == 400 and "scope" in ambiguous.json()
    assert chosen.status_code == 200


def test_the_openapi_document_declares_the_password_flow():
    import io

    import yaml
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", stdout=out)
    schemes = yaml.safe_load(out.getvalue())["components"]["securitySchemes"]

    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/token"
