"""Deliveries of the provider API: /v1/webhooks/<trigger> filtered by the provider's event
type, /v1/webhooks/<app> routed to the matching triggers, and the deprecated key endpoints;
requests signed by the providers' own libraries."""

import hashlib
import hmac
import json
import time

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier

from accounts.services import credential_create, project_create
from executions.models import Execution
from providers.services import project_trigger_create
from triggers.models import Trigger
from triggers.services import trigger_enable

STRIPE_SECRET = "whsec_provider_test"
GITHUB_SECRET = "gh-provider-secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def make(acme, acme_project, alice):
    """make(provider, trigger_id, secret=None, **config) -> an enabled project trigger and its
    key."""

    def create(provider, trigger_id, secret=None, project=acme_project, **config):
        connection = None
        if secret is not None:
            connection = credential_create(
                tenant=project.tenant, name=f"{provider}-{trigger_id}-{len(config)}",
                value=secret, provider_id=provider,
            )  # fmt: skip
        trigger, key = project_trigger_create(
            project=project, provider_id=provider, trigger_id=trigger_id, trigger_config=config,
            connection_id=str(connection.pk) if connection else None, user=alice,
        )  # fmt: skip
        return trigger_enable(trigger=trigger), key

    return create


def deliver(client, path, body: dict, **headers):
    raw = json.dumps(body).encode()
    signer = headers.pop("sign", None)
    if signer:
        headers.update(signer(raw))
    return client.post(path, data=raw, content_type="application/json", headers=headers)


def stripe_signed(raw: bytes) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), STRIPE_SECRET, timestamp=int(time.time())
    )
    return {"Stripe-Signature": header}


def github_signed(raw: bytes) -> dict:
    digest = hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}"}


def slack_signed(raw: bytes) -> dict:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=timestamp, body=raw)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


# -- a project trigger's own webhook -----------------------------------------------------------


def test_stripe_fires_only_for_its_event_type(client, make):
    trigger, _ = make("stripe", "on_customer_created", STRIPE_SECRET)
    path = f"/v1/webhooks/{trigger.uuid}"

    created = deliver(client, path, {"id": "evt_1", "type": "customer.created"}, sign=stripe_signed)
    other = deliver(client, path, {"id": "evt_2", "type": "invoice.paid"}, sign=stripe_signed)

    assert (created.status_code, created.json()["duplicate"]) == (200, False), created.content
    assert (other.status_code, other.json()["status"]) == (200, "ignored")
    execution = Execution.objects.get()
    assert (execution.trigger_id, execution.idempotency_key) == (trigger.pk, "evt_1")


def test_stripe_refuses_a_flipped_byte_and_a_missing_header(client, make):
    trigger, _ = make("stripe", "on_customer_created", STRIPE_SECRET)
    raw = json.dumps({"id": "evt_1", "type": "customer.created"}).encode()
    headers = stripe_signed(raw)
    flipped = raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:]
    path = f"/v1/webhooks/{trigger.uuid}"

    refused = client.post(path, data=flipped, content_type="application/json", headers=headers)
    unsigned = client.post(path, data=raw, content_type="application/json")

    assert (refused.status_code, unsigned.status_code) == (401, 401)
    assert refused["Content-Type"] == "application/problem+json"
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    ("event", "action", "fires"),
    [("issues", "opened", True), ("issues", "closed", False), ("push", None, False)],
)
def test_github_fires_only_for_issues_opened(client, make, event, action, fires):
    trigger, _ = make("github", "on_issue_opened", GITHUB_SECRET)

    response = deliver(
        client, f"/v1/webhooks/{trigger.uuid}", {"action": action, "issue": {"number": 1}},
        sign=github_signed, X_GitHub_Event=event, X_GitHub_Delivery="d-1",
    )  # fmt: skip

    assert response.status_code == 200, response.content
    assert ("execution_id" in response.json()) is fires
    assert Execution.objects.count() == int(fires)


def test_github_narrowed_to_a_repository(client, make):
    trigger, _ = make("github", "on_push", GITHUB_SECRET, repository="acme/api")
    path = f"/v1/webhooks/{trigger.uuid}"

    ours = deliver(client, path, {"repository": {"full_name": "acme/api"}}, sign=github_signed,
                   X_GitHub_Event="push", X_GitHub_Delivery="d-1")  # fmt: skip
    theirs = deliver(client, path, {"repository": {"full_name": "acme/web"}}, sign=github_signed,
                     X_GitHub_Event="push", X_GitHub_Delivery="d-2")  # fmt: skip

    assert (ours.status_code, theirs.status_code) == (200, 200)
    assert (ours.json()["duplicate"], theirs.json()["status"]) == (False, "ignored")
    assert Execution.objects.count() == 1


def test_an_unknown_webhook_id_is_404(client, settings, db):
    settings.SLACK_SIGNING_SECRET = ""
    for webhook_id in ("teams", "slack", "7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d"):
        response = client.post(f"/v1/webhooks/{webhook_id}", data=b"{}",
                               content_type="application/json")  # fmt: skip
        assert response.status_code == 404, webhook_id
        assert response["Content-Type"] == "application/problem+json"


# -- the Slack app's webhook --------------------------------------------------------------------


@pytest.fixture
def slack_app(settings):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET


def slack_event(channel: str, event_id: str = "Ev01", event_type: str = "message") -> dict:
    return {
        "type": "event_callback", "team_id": "T1", "event_id": event_id,
        "event": {"type": event_type, "channel": channel, "text": "hello", "user": "U1"},
    }  # fmt: skip


def test_a_slack_event_reaches_exactly_the_triggers_whose_channel_matches(
    client, make, slack_app, globex
):
    in_c1, _ = make("slack", "on_message", channel_id="C1")
    anywhere, _ = make("slack", "on_message", team_id="T1")
    make("slack", "on_message", channel_id="C2")
    make("slack", "on_app_mention", channel_id="C1")  # another event type
    elsewhere = project_create(tenant=globex, name="G", public_id="g")
    other_team, _ = make("slack", "on_message", project=elsewhere, team_id="T9")

    response = deliver(client, "/v1/webhooks/slack", slack_event("C1"), sign=slack_signed)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "matched": 2,
        "stored": 2,
        "duplicates": 0,
        "refused": 0,
        "filtered": 0,
    }
    fired = set(Execution.objects.values_list("trigger_id", flat=True))
    assert fired == {in_c1.pk, anywhere.pk}
    assert set(Execution.objects.values_list("execution_type", flat=True)) == {"slack"}
    assert other_team.pk not in fired


def test_a_slack_event_reaches_the_2_of_3_triggers_whose_channel_matches(client, make, slack_app):
    first, _ = make("slack", "on_message", channel_id="C1")
    second, _ = make("slack", "on_message", channel_id="C1")
    make("slack", "on_message", channel_id="C2")

    response = deliver(client, "/v1/webhooks/slack", slack_event("C1"), sign=slack_signed)

    assert response.json()["stored"] == 2
    assert set(Execution.objects.values_list("trigger_id", flat=True)) == {first.pk, second.pk}


def test_a_repeated_slack_event_is_stored_once(client, make, slack_app):
    make("slack", "on_message", channel_id="C1")

    first = deliver(client, "/v1/webhooks/slack", slack_event("C1"), sign=slack_signed)
    again = deliver(client, "/v1/webhooks/slack", slack_event("C1"), sign=slack_signed)

    assert (first.json()["stored"], again.json()["duplicates"]) == (1, 1)
    assert Execution.objects.count() == 1


def test_url_verification_is_answered_and_stores_nothing(client, make, slack_app):
    make("slack", "on_message")
    body = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    }

    response = deliver(client, "/v1/webhooks/slack", body, sign=slack_signed)

    assert response.json() == {"challenge": body["challenge"]}
    assert not Execution.objects.exists()


def test_a_slack_event_with_a_bad_signature_is_refused(client, make, slack_app):
    make("slack", "on_message")
    raw = json.dumps(slack_event("C1")).encode()
    headers = slack_signed(raw)
    last = headers["X-Slack-Signature"][-1]
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-1] + ("1" if last == "0" else "0")

    response = client.post("/v1/webhooks/slack", data=raw, content_type="application/json",
                           headers=headers)  # fmt: skip

    assert response.status_code == 401
    assert not Execution.objects.exists()


def test_a_disabled_trigger_gets_no_app_events(client, make, slack_app):
    trigger, _ = make("slack", "on_message")
    Trigger.objects.filter(pk=trigger.pk).update(status="inactive")

    response = deliver(client, "/v1/webhooks/slack", slack_event("C1"), sign=slack_signed)

    assert response.json()["matched"] == 0 and not Execution.objects.exists()


# -- the deprecated key endpoints ---------------------------------------------------------------


def test_a_webhook_trigger_reached_by_its_key(client, make):
    trigger, key = make("stripe", "on_customer_created", STRIPE_SECRET)
    path = f"/organizations/acme/triggers/{trigger.uuid}/webhook/key/{key}"

    right = deliver(client, path, {"id": "evt_1", "type": "customer.created"}, sign=stripe_signed)
    wrong = deliver(client, path.replace(key, key[:-1] + "x"), {"id": "evt_2"})

    assert right.status_code == 202, right.content
    assert wrong.status_code == 401
    assert Execution.objects.count() == 1


def test_a_scheduled_trigger_run_by_its_key(client, make):
    trigger, key = make("schedule", "on_schedule", schedule="0 9 * * *")

    response = client.post(f"/organizations/acme/triggers/{trigger.uuid}/scheduled/key/{key}")

    assert response.status_code == 202, response.content
    execution = Execution.objects.get()
    assert (execution.execution_type, execution.is_test) == ("manual", False)


@pytest.mark.parametrize(
    ("org", "kind"), [("globex", "scheduled"), ("acme", "webhook"), ("acme", "polling")]
)
def test_a_key_endpoint_of_another_org_or_kind_is_404(client, make, org, kind):
    trigger, key = make("schedule", "on_schedule", schedule="0 9 * * *")

    response = client.post(f"/organizations/{org}/triggers/{trigger.uuid}/{kind}/key/{key}")

    assert response.status_code == 404
    assert not Execution.objects.exists()


# -- a firing rule's refusal, answered as the /hooks URLs answer it ------------------------------


def test_a_delivery_over_the_limit_is_429_problem_with_retry_after(client, make):
    trigger, _ = make("stripe", "on_customer_created", STRIPE_SECRET)
    Trigger.objects.filter(pk=trigger.pk).update(max_executions_per_hour=1)
    path = f"/v1/webhooks/{trigger.uuid}"

    first = deliver(client, path, {"id": "evt_1", "type": "customer.created"}, sign=stripe_signed)
    over = deliver(client, path, {"id": "evt_2", "type": "customer.created"}, sign=stripe_signed)

    assert first.status_code == 200, first.content
    assert over.status_code == 429, over.content
    assert over["Content-Type"] == "application/problem+json"
    assert 3590 <= int(over["Retry-After"]) <= 3601
    body = over.json()
    assert (body["code"], body["status"]) == ("rate_limited", 429)
    assert body["detail"] == "Over the limit of 1 executions per hour."
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    ("rule", "status", "code", "detail"),
    [
        ({"is_single_execution": True}, 409, "trigger_not_active",
         "This single-execution trigger has already fired."),
        ({"max_executions_per_hour": 1}, 429, "rate_limited",
         "Over the limit of 1 executions per hour."),
    ],
)  # fmt: skip
def test_a_second_run_by_key_a_rule_refuses_is_problem_json(
    client, make, rule, status, code, detail
):
    trigger, key = make("schedule", "on_schedule", schedule="0 9 * * *")
    Trigger.objects.filter(pk=trigger.pk).update(**rule)
    path = f"/organizations/acme/triggers/{trigger.uuid}/scheduled/key/{key}"

    first = client.post(path)
    again = client.post(path)

    assert first.status_code == 202, first.content
    assert again.status_code == status, again.content
    assert again["Content-Type"] == "application/problem+json"
    body = again.json()
    assert (body["code"], body["status"], body["detail"]) == (code, status, detail)
    if status == 429:
        assert 3590 <= int(again["Retry-After"]) <= 3601
    else:
        assert "Retry-After" not in again
    assert Execution.objects.count() == 1
