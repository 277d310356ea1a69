"""The provider API exactly as its contract writes it (issue 26): ``created_by``/``updated_by``
are users' public uuids on every read of a project trigger, and ``POST /v1/webhooks/{id}``
for a project trigger answers 200 (the body the /hooks URLs answer 202 with), for deliveries
signed by the providers' own libraries."""

import hashlib
import hmac
import json
import time
import uuid

import pytest
import stripe
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.choices import MembershipRole
from accounts.models import UserIdentity
from accounts.services import api_token_create, credential_create, tenant_member_ensure
from executions.models import Execution
from triggers.models import Trigger

STRIPE_SECRET = "whsec_provider_contract"
GITHUB_SECRET = "gh-provider-contract"


@pytest.fixture
def dave(acme):
    return tenant_member_ensure(username="dave", tenant_id="acme", role=MembershipRole.MEMBER)


def client_of(membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(membership=membership)[1]}")
    return client


def public_id(user) -> str:
    return str(UserIdentity.objects.get(user=user).public_id)


@pytest.fixture
def stripe_trigger(alice_client, acme_project, acme):
    connection_ = credential_create(
        tenant=acme, name="stripe", value=STRIPE_SECRET, provider_id="stripe"
    )
    response = alice_client.post(
        "/projects/support/triggers",
        {"provider_id": "stripe", "trigger_id": "on_customer_created",
         "connection_id": str(connection_.pk)},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()


# -- created_by / updated_by -------------------------------------------------------------------


def test_created_by_and_updated_by_are_the_users_public_uuids(
    alice_client, alice, dave, stripe_trigger
):
    alice_id = public_id(alice)
    trigger_id = stripe_trigger["project_trigger_id"]

    enabled = client_of(dave).post(f"/triggers/{trigger_id}/enable")

    assert (stripe_trigger["created_by"], stripe_trigger["updated_by"]) == (alice_id, alice_id)
    assert enabled.status_code == 200, enabled.content
    dave_id = public_id(dave.user)
    assert (enabled.json()["created_by"], enabled.json()["updated_by"]) == (alice_id, dave_id)
    stored = Trigger.objects.get(uuid=trigger_id)
    assert (stored.created_by, stored.updated_by) == (alice, dave.user)
    reads = [
        alice_client.get(f"/triggers/{trigger_id}").json(),
        alice_client.get("/projects/support/triggers").json()[0],
        alice_client.get("/triggers").json()[0],
    ]
    for read in reads:
        assert (read["created_by"], read["updated_by"]) == (alice_id, dave_id)
        assert str(uuid.UUID(read["created_by"])) == read["created_by"]  # "string · uuid"
        assert read["created_by"] != str(alice.pk)


def test_a_users_public_id_is_stable(alice_client, alice, stripe_trigger):
    before = stripe_trigger["created_by"]
    alice.first_name = "Alice"
    alice.save()
    tenant_member_ensure(username="alice", tenant_id="acme")

    again = alice_client.get(f"/triggers/{stripe_trigger['project_trigger_id']}").json()

    assert again["created_by"] == before == public_id(alice)


def test_the_project_list_reads_users_without_a_query_per_trigger(
    alice_client, alice, acme_project, dave
):
    clients = [alice_client, client_of(dave)]

    def created(n):
        for i in range(n):
            response = clients[i % 2].post(
                "/projects/support/triggers",
                {"provider_id": "schedule", "trigger_id": "on_schedule",
                 "trigger_config": {"schedule": f"{i} 9 * * *"}},
                format="json",
            )  # fmt: skip
            assert response.status_code == 201, response.content

    def cost(path):
        with CaptureQueriesContext(connection) as captured:
            listed = alice_client.get(path)
        assert listed.status_code == 200
        return len(captured.captured_queries), listed.json()

    created(1)
    one, _ = cost("/projects/support/triggers")
    created(9)
    ten, listed = cost("/projects/support/triggers")

    assert one == ten
    assert len(listed) == 10
    assert {t["created_by"] for t in listed} == {public_id(dave.user), public_id(alice)}


# -- POST /v1/webhooks/{project trigger} answers 200 -------------------------------------------


def stripe_headers(raw: bytes) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), STRIPE_SECRET, timestamp=int(time.time())
    )
    return {"Stripe-Signature": header}


def github_headers(raw: bytes) -> dict:
    digest = hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "d-1"}  # fmt: skip


PROVIDERS = {
    "stripe": ("on_customer_created", {"id": "evt_1", "type": "customer.created"},
               stripe_headers),
    "github": ("on_issue_opened", {"action": "opened", "issue": {"number": 1}}, github_headers),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_stored_delivery_to_a_project_trigger_is_200(
    client, alice_client, acme, acme_project, provider
):
    trigger_id, event, sign = PROVIDERS[provider]
    secret = STRIPE_SECRET if provider == "stripe" else GITHUB_SECRET
    connection_ = credential_create(tenant=acme, name=provider, value=secret, provider_id=provider)
    made = alice_client.post(
        "/projects/support/triggers",
        {"provider_id": provider, "trigger_id": trigger_id, "connection_id": str(connection_.pk)},
        format="json",
    ).json()
    assert alice_client.post(f"/triggers/{made['project_trigger_id']}/enable").status_code == 200
    raw = json.dumps(event).encode()
    path = f"/v1/webhooks/{made['project_trigger_id']}"

    first = client.post(path, data=raw, content_type="application/json", headers=sign(raw))
    again = client.post(path, data=raw, content_type="application/json", headers=sign(raw))

    assert first.status_code == 200, first.content
    execution = Execution.objects.get()
    assert first.json() == {"execution_id": str(execution.execution_id),
                            "status": "pending", "duplicate": False}  # fmt: skip
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert execution.trigger.uuid == uuid.UUID(made["project_trigger_id"])
    assert execution.request_payload["body"] == event


def test_a_refused_delivery_to_a_project_trigger_keeps_its_status(client, stripe_trigger):
    Trigger.objects.filter(uuid=stripe_trigger["project_trigger_id"]).update(status="active")
    raw = json.dumps({"id": "evt_1", "type": "customer.created"}).encode()

    response = client.post(
        f"/v1/webhooks/{stripe_trigger['project_trigger_id']}", data=raw,
        content_type="application/json", headers={"Stripe-Signature": "t=1,v1=00"},
    )  # fmt: skip

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not Execution.objects.exists()
