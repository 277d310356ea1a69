"""The management API over HTTP: every endpoint, parameter and field as its contract writes
them, the bodies its real UI sends, and every error as application/problem+json."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.authentication import SESSION_TOKEN_COOKIE
from accounts.services import api_token_create, credential_create, tenant_member_ensure
from executions.models import Execution
from triggers.models import Trigger
from triggers.services import trigger_update

BASE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
PROBLEM_KEYS = {"code", "detail", "instance", "requestId", "status", "title", "error"}
TRIGGER_KEYS = {
    "id", "name", "description", "enabled", "inputSchema", "outputTransform",
    "messageTemplate", "authentication", "signatureVerification",
    "signingSecretCredentialReferenceId", "runAsUserIds", "runAsUserId", "webhookUrl",
    "createdAt", "updatedAt",
    # beyond the contract: a pause (docs/management-api.md)
    "pausedAt", "pausedBy", "pauseNote", "pausedUntil",
}  # fmt: skip
INVOCATION_KEYS = {
    "id", "triggerId", "status", "createdAt", "conversationId", "errorMessage",
    "requestPayload", "transformedPayload", "requestHeaders", "requestQuery", "runAsUserId",
    "deliveryCount",
}  # fmt: skip
# What the management UI sends when a trigger is created (issue 14).
UI_CREATE = {
    "id": "orders",
    "name": "Orders",
    "description": "New orders from the shop",
    "enabled": True,
    "messageTemplate": "Order {{body.order.id}} from {{body.order.customer}}",
    "outputTransform": {"objectTransformation": {"order": "order.id", "who": "order.customer"}},
    "authentication": {"headers": [{"name": "X-Shop-Token", "value": "tok_0123456789abcdef"}]},
    "runAsUserIds": [],
    "runAsUserId": None,
}


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status and body["error"]["code"] == body["code"]
    assert body["instance"] == response.wsgi_request.path
    assert body["requestId"] == response["X-Request-Id"]
    if code:
        assert body["code"] == code
    return body


@pytest.fixture
def created(alice_client, acme_agent):
    response = alice_client.post(BASE, UI_CREATE, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def deliver(client, trigger_data, body=b'{"order": {"id": 7, "customer": "ada"}}', **headers):
    path = trigger_data["webhookUrl"].split("triggers.example.test", 1)[1]
    return client.post(path, data=body, content_type="application/json", headers=headers)


# -- triggers ----------------------------------------------------------------------------------


def test_the_ui_create_body_makes_a_webhook_trigger(created, acme_agent):
    assert set(created) == TRIGGER_KEYS
    assert created["id"] == "orders" and created["enabled"] is True
    assert created["authentication"] == {
        "headers": [{"name": "X-Shop-Token", "valuePrefix": created["authentication"]
                     ["headers"][0]["valuePrefix"]}],
    }  # fmt: skip
    assert "tok_0123456789abcdef" not in json.dumps(created)
    assert (created["runAsUserIds"], created["runAsUserId"]) == ([], None)
    assert created["webhookUrl"].startswith("https://triggers.example.test/hooks/")
    trigger = Trigger.objects.get(public_id="orders")
    assert (trigger.agent, trigger.origin, trigger.status) == (acme_agent, "management", "active")
    assert "tok_0123456789abcdef" not in json.dumps(trigger.webhook_endpoint.authentication)


def test_a_minimal_create_gets_an_id_and_a_warning(alice_client, acme_agent):
    response = alice_client.post(BASE, {"name": "Bare"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"data", "warning"}
    assert "authentication" in body["warning"]
    assert Trigger.objects.get().public_id == body["data"]["id"]


def test_header_authentication_missing_is_401_wrong_is_403_right_is_stored(client, created):
    problem(deliver(client, created), 401)
    problem(deliver(client, created, X_Shop_Token="tok_wrong"), 403)
    assert not Execution.objects.exists()

    accepted = deliver(client, created, X_Shop_Token="tok_0123456789abcdef")

    assert accepted.status_code == 202, accepted.content
    execution = Execution.objects.get()
    assert execution.input_data["payload"] == {"order": 7, "who": "ada"}
    assert execution.input_data["message"] == "Order 7 from ada"
    assert "tok_0123456789abcdef" not in json.dumps(execution.request_payload)


def test_patch_with_the_ui_body_keeps_the_header_value(alice_client, client, created):
    stored = Trigger.objects.get().webhook_endpoint.authentication
    response = alice_client.patch(
        f"{BASE}/orders",
        {"id": "orders", "name": "Orders v2",
         "authentication": {"headers": [{"name": "X-Shop-Token", "keepExisting": True}]},
         "runAsUserIds": [], "runAsUserId": None},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"data"}
    assert response.json()["data"]["name"] == "Orders v2"
    assert Trigger.objects.get().webhook_endpoint.authentication == stored
    assert deliver(client, created, X_Shop_Token="tok_0123456789abcdef").status_code == 202


def test_the_toggle_disables_and_deliveries_are_refused(alice_client, client, created):
    response = alice_client.patch(f"{BASE}/orders", {"enabled": False}, format="json")

    assert response.json()["data"]["enabled"] is False
    problem(deliver(client, created, X_Shop_Token="tok_0123456789abcdef"), 409)
    rerun = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "go"}, format="json")
    assert problem(rerun, 409, "conflict")["detail"] == "The trigger is inactive."
    assert "Retry-After" not in rerun


def test_a_rerun_over_the_limit_is_429_with_retry_after(alice_client, created):
    Trigger.objects.update(max_executions_per_hour=1)

    first = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "go"}, format="json")
    over = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "again"}, format="json")

    assert first.status_code == 202, first.content
    body = problem(over, 429, "too_many_requests")
    wait = int(over["Retry-After"])
    assert 3590 <= wait <= 3601
    assert body["detail"] == (
        f"Over the limit of 1 executions per hour. Expected available in {wait} seconds."
    )
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "No fields to update"),
        ({"id": "other"}, "id: Must equal the trigger's id in the path."),
        ({"agentId": "elsewhere"}, "agentId: Must equal the path's agentId (triage)."),
        ({"enabled": "yes"}, "enabled: Must be a valid boolean."),
        ({"messageTemplate": ""}, "messageTemplate: This field may not be blank."),
    ],
)
def test_bad_patches_are_400(alice_client, created, body, detail):
    before = Trigger.objects.values().get()

    body = problem(alice_client.patch(f"{BASE}/orders", body, format="json"), 400, "bad_request")

    assert body["detail"] == detail
    assert Trigger.objects.values().get() == before


def test_settings_that_do_not_compile_are_422_naming_them(alice_client, acme_agent):
    for field, value in [
        ("signatureVerification", {"algorithm": "sha3", "encoding": "hex"}),
        ("inputSchema", {"type": "strin"}),
        ("outputTransform", {"jmespath": "order.["}),
    ]:
        body = problem(alice_client.post(BASE, {"name": "x", field: value}, format="json"), 422)
        assert body["detail"].startswith(field), body
    assert not Trigger.objects.exists()


def test_list_is_paged_with_the_pagination_envelope(alice_client, acme_agent):
    for n in range(12):
        alice_client.post(BASE, {"name": f"t{n}", "id": f"t{n:02}"}, format="json")

    first = alice_client.get(BASE).json()
    last = alice_client.get(f"{BASE}?page=2&limit=10").json()

    assert first["pagination"] == {"page": 1, "limit": 10, "total": 12, "pages": 2}
    assert [t["id"] for t in first["data"]][:2] == ["t11", "t10"]  # newest first
    assert len(last["data"]) == 2 and set(last["data"][0]) == TRIGGER_KEYS
    problem(alice_client.get(f"{BASE}?limit=101"), 400)
    problem(alice_client.get(f"{BASE}?page=0"), 400)


def test_get_and_delete_a_trigger(alice_client, client, created):
    assert alice_client.get(f"{BASE}/orders").json() == {"data": created}

    deleted = alice_client.delete(f"{BASE}/orders")

    assert deleted.status_code == 204 and deleted.content == b""
    assert not Trigger.objects.exists()
    problem(deliver(client, created), 404)
    problem(alice_client.get(f"{BASE}/orders"), 404, "not_found")


def test_run_as_users_must_be_members(alice_client, acme_agent, alice, charlie_membership):
    alice_id = str(alice.identity.public_id)
    mine = alice_client.post(
        BASE, {"name": "x", "runAsUserIds": [alice_id], "runAsUserId": alice_id}, format="json"
    )
    theirs = alice_client.post(
        BASE,
        {"name": "y", "runAsUserIds": [str(charlie_membership.user.identity.public_id)]},
        format="json",
    )

    assert mine.json()["data"]["runAsUserIds"] == [alice_id]
    assert mine.json()["data"]["runAsUserId"] == alice_id
    assert problem(theirs, 422)["detail"].startswith("runAsUserIds:")
    stored = Trigger.objects.get(name="x")
    assert (stored.run_as_user, stored.run_as_user_ids) == (alice, [str(alice.pk)])


def test_run_as_users_are_named_by_public_id_or_integer_id_and_shown_by_public_id(
    alice_client, acme_agent, alice
):
    dave = tenant_member_ensure(username="dave", tenant_id="acme", role="member").user
    alice_id, dave_id = str(alice.identity.public_id), str(dave.identity.public_id)

    made = alice_client.post(
        BASE, {"id": "orders", "name": "x", "runAsUserIds": [alice_id, str(dave.pk)],
               "runAsUserId": dave_id}, format="json",
    )  # fmt: skip
    unknown = alice_client.patch(
        f"{BASE}/orders", {"runAsUserId": "7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d"}, format="json"
    )
    rerun = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "go"}, format="json")

    assert made.status_code == 201, made.content
    assert made.json()["data"]["runAsUserIds"] == [alice_id, dave_id]
    assert made.json()["data"]["runAsUserId"] == dave_id
    assert problem(unknown, 422)["detail"].startswith("runAsUserId:")
    stored = Trigger.objects.get()
    assert (stored.run_as_user, stored.run_as_user_ids) == (dave, [str(alice.pk), str(dave.pk)])
    invocation = rerun.json()["invocationId"]
    shown = alice_client.get(f"{BASE}/orders/invocations/{invocation}").json()["data"]
    assert shown["runAsUserId"] == dave_id
    listed = alice_client.get(BASE).json()["data"]
    assert (listed[0]["runAsUserIds"], listed[0]["runAsUserId"]) == ([alice_id, dave_id], dave_id)


def test_run_as_users_cost_no_query_per_trigger_listed(alice_client, acme_agent, alice):
    dave = tenant_member_ensure(username="dave", tenant_id="acme", role="member").user

    def make(n):
        for i in range(n):
            body = {"name": f"t{i}", "runAsUserIds": [str(alice.identity.public_id)],
                    "runAsUserId": str(dave.identity.public_id)}  # fmt: skip
            assert alice_client.post(BASE, body, format="json").status_code == 201

    def cost():
        with CaptureQueriesContext(connection) as captured:
            listed = alice_client.get(f"{BASE}?limit=100")
        assert len(listed.json()["data"]) == Trigger.objects.count()
        return len(captured.captured_queries)

    make(1)
    one = cost()
    make(9)

    assert cost() == one


def test_another_tenants_credential_cannot_be_named(alice_client, acme_agent, globex):
    foreign = credential_create(tenant=globex, name="their-secret", value="x")

    for reference in (str(foreign.pk), "their-secret"):
        response = alice_client.post(
            BASE, {"name": "x", "signingSecretCredentialReferenceId": reference}, format="json"
        )
        assert problem(response, 422)["detail"].startswith("signingSecretCredentialReferenceId:")
    assert not Trigger.objects.exists()


def test_a_github_signature_configured_through_this_api(alice_client, client, acme, acme_agent):
    secret = credential_create(tenant=acme, name="gh", value="gh-secret")
    config = {
        "algorithm": "sha256", "encoding": "hex",
        "signature": {"source": "header", "key": "X-Hub-Signature-256", "prefix": "sha256="},
        "signedComponents": [{"source": "body", "required": True}],
        "componentJoin": {"strategy": "concatenate", "separator": ""},
    }  # fmt: skip
    data = alice_client.post(
        BASE, {"name": "gh", "signatureVerification": config,
               "signingSecretCredentialReferenceId": str(secret.pk)}, format="json",
    ).json()["data"]  # fmt: skip
    body = b'{"action": "opened"}'
    signature = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()

    assert deliver(client, data, body, X_Hub_Signature_256=signature).status_code == 202
    problem(deliver(client, data, body[:-2] + b"}}", X_Hub_Signature_256=signature), 401)
    assert Execution.objects.count() == 1
    assert data["signingSecretCredentialReferenceId"] == str(secret.pk)


# -- invocations and rerun ---------------------------------------------------------------------


@pytest.fixture
def invocations(created):
    trigger = Trigger.objects.get()
    now = timezone.now()
    made = {}
    for age, status in [(5, "pending"), (4, "running"), (3, "completed"), (2, "failed"),
                        (1, "cancelled")]:  # fmt: skip
        execution = Execution.objects.create(
            tenant=trigger.tenant, trigger=trigger, execution_type="webhook", status=status,
            request_payload={"method": "POST", "headers": {"X-N": str(age)}, "query": {},
                             "body": {"n": age}, "raw_body": f'{{"n": {age}}}'},
            input_data={"message": None, "payload": {"n": age * 10}},
            error_message="boom" if status == "failed" else "",
        )  # fmt: skip
        Execution.objects.filter(pk=execution.pk).update(created_at=now - timedelta(hours=age))
        made[status] = str(execution.execution_id)
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["cancelled", "failed", "completed", "running", "pending"]),
        ("status=pending", ["running", "pending"]),
        ("status=success", ["completed"]),
        ("status=failed", ["cancelled", "failed"]),
        ("status=failed&limit=50&page=1", ["cancelled", "failed"]),
    ],
)
def test_invocations_by_status(alice_client, invocations, query, expected):
    body = alice_client.get(f"{BASE}/orders/invocations?{query}").json()

    assert [i["id"] for i in body["data"]] == [invocations[s] for s in expected]
    assert body["pagination"]["total"] == len(expected)


def test_invocations_by_date_range_paged(alice_client, invocations):
    now = timezone.now()
    since = (now - timedelta(hours=4, minutes=30)).isoformat()
    until = (now - timedelta(hours=1, minutes=30)).isoformat()

    response = alice_client.get(
        f"{BASE}/orders/invocations", {"from": since, "to": until, "limit": 2, "page": 2}
    )

    body = response.json()
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 3, "pages": 2}
    assert [i["id"] for i in body["data"]] == [invocations["running"]]
    problem(alice_client.get(f"{BASE}/orders/invocations?from=yesterday"), 400)
    problem(alice_client.get(f"{BASE}/orders/invocations?status=done"), 400)


def test_an_invocation_shows_what_the_ui_reads(alice_client, invocations):
    response = alice_client.get(f"{BASE}/orders/invocations/{invocations['failed']}")

    data = response.json()["data"]
    assert set(data) == INVOCATION_KEYS
    assert (data["status"], data["errorMessage"], data["triggerId"]) == ("failed", "boom", "orders")
    assert data["requestPayload"] == {"n": 2}
    assert data["transformedPayload"] == {"n": 20}
    assert (data["requestHeaders"], data["requestQuery"]) == ({"X-N": "2"}, {})
    problem(alice_client.get(f"{BASE}/orders/invocations/not-a-uuid"), 404)


def test_rerun_runs_the_trigger_with_the_message(alice_client, created):
    response = alice_client.post(
        f"{BASE}/orders/rerun", {"userMessage": "Try order 7 again"}, format="json"
    )

    assert response.status_code == 202, response.content
    body = response.json()
    execution = Execution.objects.get()
    assert body == {"success": True, "invocationId": str(execution.execution_id),
                    "conversationId": execution.conversation_id}  # fmt: skip
    assert execution.execution_type == "manual" and not execution.is_test
    assert execution.input_data["message"] == "Try order 7 again"
    shown = alice_client.get(f"{BASE}/orders/invocations/{execution.execution_id}").json()
    assert shown["data"]["conversationId"] == body["conversationId"]


# -- errors, authentication, tenancy -----------------------------------------------------------


def test_each_error_status_is_the_exact_problem_body(
    alice_client, bob_client, created, monkeypatch, acme, globex
):
    problem(alice_client.post(BASE, {"name": 5}, format="json"), 400, "bad_request")
    problem(APIClient().get(BASE), 401, "unauthorized")
    problem(bob_client.post(BASE, {"name": "x"}, format="json"), 403, "forbidden")
    problem(alice_client.get(BASE.replace("triage", "nobody")), 404, "not_found")
    problem(alice_client.post(BASE, {"name": "x", "id": "orders"}, format="json"), 422,
            "unprocessable_entity")  # fmt: skip

    def broken(**kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr("webhooks.services.manage_trigger_create", broken)
    client = alice_client
    client.raise_request_exception = False
    body = problem(client.post(BASE, {"name": "x"}, format="json"), 500, "internal_server_error")
    assert "fire" not in body["detail"]


def test_unauthenticated_is_401_with_a_challenge(acme_agent):
    response = APIClient().get(BASE, headers={"X-Request-Id": "req_abc"})

    problem(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["requestId"] == "req_abc"


def test_a_session_cookie_works_and_unsafe_methods_need_csrf(alice, acme_agent):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.get(BASE).status_code == 200
    problem(client.post(BASE, {"name": "x"}, format="json"), 403)
    assert not Trigger.objects.exists()


def cookie_client(membership, **client_options) -> APIClient:
    """A client that sends its API token the contract's cookieAuth way."""
    _, token = api_token_create(membership=membership)
    client = APIClient(**client_options)
    client.cookies[SESSION_TOKEN_COOKIE] = token
    return client


def test_the_session_token_cookie_authenticates_reads_and_writes(alice_membership, acme_agent):
    client = cookie_client(alice_membership, enforce_csrf_checks=True)

    created = client.post(BASE, {"id": "orders", "name": "Orders"}, format="json")
    listed = client.get(BASE)

    assert created.status_code == 201, created.content
    assert [t["id"] for t in listed.json()["data"]] == ["orders"]
    assert client.delete(f"{BASE}/orders").status_code == 204
    assert not Trigger.objects.exists()


def test_a_bad_session_token_cookie_is_a_401(acme_agent):
    client = APIClient()
    client.cookies[SESSION_TOKEN_COOKIE] = "not-a-token"

    problem(client.get(BASE), 401)


def test_a_cross_site_write_with_the_session_token_cookie_is_refused(alice_membership, acme_agent):
    client = cookie_client(alice_membership)
    evil = {"Origin": "https://evil.example"}

    problem(client.post(BASE, {"name": "x"}, format="json", headers=evil), 403)
    assert client.get(BASE, headers=evil).status_code == 200  # a read changes nothing
    own = {"Origin": "http://testserver"}
    assert client.post(BASE, {"name": "x"}, format="json", headers=own).status_code == 201
    assert Trigger.objects.count() == 1


def test_a_session_of_a_user_in_two_tenants_takes_the_paths_tenant(alice, acme_agent):
    tenant_member_ensure(username="alice", tenant_id="globex", role="owner")
    client = APIClient()
    client.force_login(alice)

    assert client.get(BASE).status_code == 200
    problem(client.get(BASE.replace("acme", "globex")), 404)  # its member, not its agent


@pytest.mark.parametrize("bad_id", ["bad!id", "x" * 256, "sp ace"])
@pytest.mark.parametrize("suffix", ["", "/invocations", "/rerun"])
def test_a_trigger_id_outside_the_contracts_pattern_is_a_400_naming_it(
    alice_client, created, bad_id, suffix
):
    method = alice_client.post if suffix == "/rerun" else alice_client.get

    body = problem(method(f"{BASE}/{bad_id}{suffix}", {"userMessage": "x"}, "json"), 400)

    assert body["detail"].startswith("id: Must match")
    problem(alice_client.patch(f"{BASE}/{bad_id}", {"name": "y"}, "json"), 400)
    problem(alice_client.delete(f"{BASE}/{bad_id}"), 400)
    problem(APIClient().get(f"{BASE}/{bad_id}"), 401)  # who asks is checked first
    assert Trigger.objects.count() == 1


PATHS = [
    ("get", ""), ("post", ""), ("get", "/orders"), ("patch", "/orders"), ("delete", "/orders"),
    ("post", "/orders/rerun"), ("get", "/orders/invocations"),
    ("get", "/orders/invocations/{invocation}"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "suffix"), PATHS)
def test_another_tenant_gets_a_problem_404_for_every_path(
    charlie_client, invocations, method, suffix
):
    before = list(Trigger.objects.values()), Execution.objects.count()
    path = BASE + suffix.format(invocation=invocations["failed"])

    response = getattr(charlie_client, method)(path, {"name": "x", "userMessage": "x"}, "json")

    problem(response, 404)
    assert (list(Trigger.objects.values()), Execution.objects.count()) == before


def test_another_tenants_own_path_with_this_tenants_ids_finds_nothing(
    alice_client, charlie_client, created
):
    tenant_member_ensure(username="charlie", tenant_id="globex")
    other = BASE.replace("acme", "globex")

    problem(charlie_client.get(other), 404)
    problem(alice_client.get(other), 404)


def test_an_invocation_shows_how_many_debounced_deliveries_it_carries(
    alice_client, client, created
):
    trigger = Trigger.objects.get()
    trigger_update(trigger=trigger, config={"debounce": {"period_seconds": 60}})
    answers = [deliver(client, created, X_Shop_Token="tok_0123456789abcdef") for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]

    (shown,) = alice_client.get(f"{BASE}/orders/invocations").json()["data"]

    assert shown["id"] == answers[0].json()["execution_id"]
    assert shown["deliveryCount"] == 3
    assert Execution.objects.get().delivery_count == 3
