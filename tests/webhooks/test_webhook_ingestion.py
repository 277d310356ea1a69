"""Webhook ingestion over HTTP: each scheme signed by its real library; every rejection is
problem+json and stores nothing; idempotency holds under concurrency."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from accounts.services import credential_create
from executions.models import Execution
from triggers.services import trigger_create, trigger_disable
from webhooks.authentication import store_authentication

BODY = json.dumps({"id": "evt_1", "action": "opened", "issue": {"title": "Bug"}}).encode()
FLIPPED = BODY[:-3] + bytes([BODY[-3] ^ 0x01]) + BODY[-2:]


@pytest.fixture
def make_hook(acme, alice):
    def make(preset=None, secret="s3cret", **fields):
        if preset:
            credential = credential_create(tenant=acme, name=f"{preset}-secret", value=secret)
            fields.update(signature_verification={"preset": preset}, signing_secret=credential)
        return trigger_create(
            tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice, **fields
        )

    return make


def post(client, trigger, body=BODY, content_type="application/json", **headers):
    url = f"/hooks/{trigger.webhook_endpoint.token}"
    return client.post(url, data=body, content_type=content_type, headers=headers)


def assert_problem(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    if code:
        assert problem["code"] == code
    assert not Execution.objects.exists()
    return problem


def github_signature(body=BODY, secret="s3cret"):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_valid_github_delivery_is_stored_then_answered_202(client, make_hook):
    hook = make_hook("github", message_template="{{ body.action }}: {{ body.issue.title }}",
                     output_transform="{title: issue.title}")  # fmt: skip

    response = post(client, hook, X_Hub_Signature_256=github_signature(), X_GitHub_Delivery="d-1")

    assert response.status_code == 202, response.content
    execution = Execution.objects.get()
    assert response.json() == {
        "execution_id": str(execution.execution_id), "status": "pending", "duplicate": False,
    }  # fmt: skip
    assert execution.execution_type == "webhook" and execution.idempotency_key == "d-1"
    assert execution.input_data == {"message": "opened: Bug", "payload": {"title": "Bug"}}
    assert execution.request_payload["raw_body"] == BODY.decode()
    assert execution.request_payload["body"]["issue"] == {"title": "Bug"}


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (FLIPPED, {"X-Hub-Signature-256": github_signature()}, "invalid_signature"),
        (BODY, {}, "missing_signature"),
        (BODY, {"X-Hub-Signature-256": github_signature(secret="other")}, "invalid_signature"),
    ],
)
def test_github_tampering_is_401_and_stores_nothing(client, make_hook, body, headers, code):
    assert_problem(post(client, make_hook("github"), body, **headers), 401, code)


STRIPE_SECRET = "whsec_stripe_test"


def stripe_header(body=BODY, timestamp=None):
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=timestamp or int(time.time())
    )


def test_stripe_deliveries_verify_and_deduplicate_on_the_event_id(client, make_hook):
    hook = make_hook("stripe", secret=STRIPE_SECRET,
                     config={"idempotencyKey": {"source": "body", "path": "id"}})  # fmt: skip

    first = post(client, hook, Stripe_Signature=stripe_header())
    replay_later = post(client, hook, Stripe_Signature=stripe_header())

    assert (first.status_code, replay_later.status_code) == (202, 200)
    assert replay_later.json()["duplicate"] is True
    assert replay_later.json()["execution_id"] == first.json()["execution_id"]
    assert Execution.objects.get().idempotency_key == "evt_1"


@pytest.mark.parametrize(
    ("body", "header", "code"),
    [
        (FLIPPED, lambda: stripe_header(), "invalid_signature"),
        (BODY, lambda: stripe_header(timestamp=int(time.time()) - 600), "stale_timestamp"),
        (BODY, lambda: None, "missing_signature"),
    ],
)
def test_stripe_tampering_and_stale_timestamps_are_401(client, make_hook, body, header, code):
    hook = make_hook("stripe", secret=STRIPE_SECRET)
    headers = {"Stripe_Signature": header()} if header() else {}
    assert_problem(post(client, hook, body, **headers), 401, code)


SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def slack_headers(body=BODY, timestamp=None):
    timestamp = str(timestamp or int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {"X_Slack_Request_Timestamp": timestamp, "X_Slack_Signature": signature}


def test_slack_events_verify_and_url_verification_stores_nothing(client, make_hook):
    hook = make_hook("slack", secret=SLACK_SECRET)
    handshake = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()

    answered = post(client, hook, handshake, **slack_headers(handshake))
    assert answered.status_code == 200 and answered.json() == {"challenge": "abc123"}
    assert not Execution.objects.exists()

    event = post(client, hook, **slack_headers())
    assert event.status_code == 202


def test_slack_form_encoded_payloads_are_parsed(client, make_hook):
    hook = make_hook("slack", secret=SLACK_SECRET)
    form = b"payload=%7B%22type%22%3A%22block_actions%22%7D&token=x"

    response = post(client, hook, form, "application/x-www-form-urlencoded", **slack_headers(form))

    assert response.status_code == 202
    assert Execution.objects.get().input_data["payload"]["payload"] == {"type": "block_actions"}


@pytest.mark.parametrize(
    ("body", "timestamp", "code"),
    [(FLIPPED, None, "invalid_signature"), (BODY, int(time.time()) - 600, "stale_timestamp")],
)
def test_slack_tampering_and_replays_are_401(client, make_hook, body, timestamp, code):
    hook = make_hook("slack", secret=SLACK_SECRET)
    headers = slack_headers(BODY, timestamp)
    assert_problem(post(client, hook, body, **headers), 401, code)


SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def standard_headers(body=BODY, moment=None, msg_id="msg_1"):
    moment = moment or datetime.now(tz=UTC)
    return {
        "webhook_id": msg_id,
        "webhook_timestamp": str(int(moment.timestamp())),
        "webhook_signature": Webhook(SW_SECRET).sign(msg_id, moment, body.decode()),
    }


def test_standard_webhooks_verify_and_a_replayed_message_id_is_one_execution(client, make_hook):
    hook = make_hook("standard_webhooks", secret=SW_SECRET)

    first = post(client, hook, **standard_headers())
    replay = post(client, hook, **standard_headers())

    assert (first.status_code, replay.status_code) == (202, 200)
    assert Execution.objects.get().idempotency_key == "msg_1"


@pytest.mark.parametrize(
    ("body", "moment", "code"),
    [
        (FLIPPED, None, "invalid_signature"),
        (BODY, datetime.fromtimestamp(time.time() - 600, tz=UTC), "stale_timestamp"),
    ],
)
def test_standard_webhooks_tampering_and_stale_are_401(client, make_hook, body, moment, code):
    hook = make_hook("standard_webhooks", secret=SW_SECRET)
    assert_problem(post(client, hook, body, **standard_headers(moment=moment)), 401, code)


def test_oversized_unparsable_and_schema_breaking_bodies(client, make_hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 64
    hook = make_hook(input_schema={"type": "object", "required": ["id"],
                                   "properties": {"id": {"type": "string"}}})  # fmt: skip

    assert_problem(post(client, hook, b'{"id": "' + b"x" * 100 + b'"}'), 413, "payload_too_large")
    assert_problem(post(client, hook, b'{"id": '), 400, "invalid_json")
    problem = assert_problem(post(client, hook, b'{"id": 5}'), 422, "input_schema_mismatch")
    assert problem["errors"] == [{"path": "/id", "message": "5 is not of type 'string'"}]
    assert post(client, hook, b'{"id": "ok"}').status_code == 202


API_KEY = {"type": "api_key", "credentialReferenceId": "hook-key"}
BEARER = {"type": "bearer", "credentialReferenceId": "hook-key"}


@pytest.mark.parametrize(
    ("authentication", "headers", "accepted"),
    [
        (API_KEY, {"X_API_Key": "k3y"}, True),
        (API_KEY, {"X_API_Key": "nope"}, False),
        (BEARER, {"Authorization": "Bearer k3y"}, True),
        (BEARER, {}, False),
    ],
)
def test_authentication_guards_the_hook(client, acme, make_hook, authentication, headers, accepted):
    credential_create(tenant=acme, name="hook-key", value="k3y")
    hook = make_hook(authentication=authentication)

    response = post(client, hook, **headers)

    if accepted:
        assert response.status_code == 202
        assert "authorization" not in {
            k.lower() for k in Execution.objects.get().request_payload["headers"]
        }
    else:
        assert_problem(response, 401, "invalid_credentials")


def test_header_authentication_is_401_missing_403_wrong_and_never_stores_the_value(
    client, make_hook
):
    hook = make_hook(
        authentication=store_authentication(
            {"headers": [{"name": "X-Token", "value": "tok-value-1"}]}
        )
    )
    assert "tok-value-1" not in json.dumps(hook.webhook_endpoint.authentication)

    assert_problem(post(client, hook), 401, "missing_credentials")
    assert_problem(post(client, hook, X_Token="tok-value-2"), 403, "invalid_credentials")
    accepted = post(client, hook, x_token="tok-value-1", X_Other="kept")

    assert accepted.status_code == 202, accepted.content
    stored = Execution.objects.get().request_payload
    assert "tok-value-1" not in json.dumps(stored)
    assert "X-Other" in stored["headers"]


def test_an_api_key_in_a_custom_header_is_not_stored(client, acme, make_hook):
    # Issue 19, point 5: the key used to be kept on every execution.
    credential_create(tenant=acme, name="hook-key", value="k3y-in-clear")
    hook = make_hook(authentication={**API_KEY, "header": "X-Token"})

    assert post(client, hook, X_Token="k3y-in-clear").status_code == 202

    assert "k3y-in-clear" not in json.dumps(Execution.objects.get().request_payload)


def test_a_disabled_trigger_answers_409_and_an_unknown_token_404(client, make_hook):
    hook = make_hook()
    trigger_disable(trigger=hook)

    assert_problem(post(client, hook), 409, "trigger_not_active")
    assert_problem(
        client.post("/hooks/not-a-token", data=BODY, content_type="application/json"), 404
    )
    assert_problem(client.get(f"/hooks/{hook.webhook_endpoint.token}"), 405)


def test_over_the_limit_is_429_with_retry_after(client, make_hook):
    hook = make_hook(max_executions_per_hour=1)

    assert post(client, hook).status_code == 202
    refused = post(client, hook)

    assert refused.status_code == 429
    assert 3590 <= int(refused["Retry-After"]) <= 3601
    assert Execution.objects.count() == 1


def test_a_custom_path_runs_the_same_pipeline(client, make_hook):
    hook = make_hook("github", webhook_path="/webhook/news")

    signed = client.post("/hooks/p/webhook/news", data=BODY, content_type="application/json",
                         headers={"X-Hub-Signature-256": github_signature()})  # fmt: skip
    unsigned = client.post("/hooks/p/webhook/news", data=BODY, content_type="application/json")

    assert signed.status_code == 202 and unsigned.status_code == 401
    assert Execution.objects.get().trigger == hook


def test_a_custom_path_clash_or_bad_path_is_refused_when_saving(make_hook):
    from django.core.exceptions import ValidationError

    make_hook(webhook_path="/webhook/news")
    with pytest.raises(ValidationError) as clash:
        make_hook(webhook_path="/webhook/news")
    assert "webhook_path" in clash.value.message_dict
    with pytest.raises(ValidationError) as bad:
        make_hook(webhook_path="webhook news")
    assert "webhook_path" in bad.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_identical_deliveries_make_one_execution(live_server, make_hook, race):
    hook = make_hook("github")
    headers = {
        "X-Hub-Signature-256": github_signature(),
        "X-GitHub-Delivery": "delivery-42",
        "Content-Type": "application/json",
    }
    url = f"{live_server.url}/hooks/{hook.webhook_endpoint.token}"

    responses = race(lambda: httpx.post(url, content=BODY, headers=headers, timeout=30), 10)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [202], statuses
    assert len({r.json()["execution_id"] for r in responses}) == 1
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    ("settings_fields", "field", "reason"),
    [
        ({"input_schema": {"type": "nonsense"}}, "input_schema", "inputSchema"),
        ({"input_schema": {"pattern": "(?<=a)b"}}, "input_schema", "inputSchema/pattern"),
        (
            {
                "signature_verification": {
                    "algorithm": "sha256",
                    "encoding": "hex",
                    "signature": {"source": "header", "key": "X-Sig", "regex": r"(\w)\1"},
                    "signedComponents": [{"source": "body"}],
                }
            },
            "signature_verification",
            "signature.regex: invalid regular expression",
        ),
        ({"output_transform": "items[?"}, "output_transform", "outputTransform"),
        ({"message_template": "{{ body.x "}, "message_template", "messageTemplate"),
        ({"signature_verification": {"preset": "acme"}}, "signature_verification", "acme"),
        ({"authentication": {"type": "digest"}}, "authentication", "authentication"),
        ({"config": {"idempotencyKey": {"source": "cookie"}}}, "config", "idempotencyKey"),
    ],
)
def test_webhook_settings_that_do_not_compile_are_refused_when_saving(
    make_hook, settings_fields, field, reason
):
    from django.core.exceptions import ValidationError

    from triggers.models import Trigger

    with pytest.raises(ValidationError) as refused:
        make_hook(**settings_fields)

    assert field in refused.value.message_dict
    assert reason in refused.value.message_dict[field][0], refused.value.message_dict
    assert not Trigger.objects.exists()
