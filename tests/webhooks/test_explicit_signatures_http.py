"""Issue 14's Done-when: GitHub, Stripe, Slack and Standard Webhooks configured through an
explicit ``signatureVerification`` object — the ones docs/webhooks.md gives management API
users, read from that page, sent through the management API — with the secret in a
credential, over HTTP to /hooks/<token>.

Each accepts a delivery signed by the sender's own library (``hmac`` for GitHub, which ships
no helper) and refuses a flipped byte, a missing header and a stale timestamp, storing
nothing.
"""

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from accounts.services import credential_create
from executions.models import Execution
from triggers.models import Trigger
from webhooks.presets import preset_config
from webhooks.signatures import validate_signature_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SENDERS = {
    "GitHub": "github",
    "Stripe": "stripe",
    "Slack": "slack",
    "Standard Webhooks": "standard_webhooks",
}
BODY = json.dumps({"id": "evt_1", "text": "héllo", "issue": {"title": "Bug"}}).encode()
FLIPPED = BODY[:-3] + bytes([BODY[-3] ^ 0x01]) + BODY[-2:]
STALE = 6 * 60  # beyond WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS

SECRETS = {
    "github": "It's a Secret to Everybody",
    "stripe": "whsec_stripe_test_secret",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def documented_configs() -> dict[str, dict]:
    """The four ```json blocks of docs/webhooks.md's "Signature configs" section, by sender."""
    text = DOCS.read_text()
    section = text.split("## Signature configs for the management API", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^### (.+?)\n.*?```json\n(.*?)```", section, flags=re.S | re.M)
    return {SENDERS[title]: json.loads(block) for title, block in found}


CONFIGS = documented_configs()


def test_the_docs_give_all_four_each_exactly_its_preset():
    assert set(CONFIGS) == set(SENDERS.values())
    for name, config in CONFIGS.items():
        assert "preset" not in config
        assert validate_signature_config(config) == validate_signature_config(preset_config(name))


@pytest.fixture
def hook(acme, alice_client, acme_agent):
    """The sender's trigger, configured through the management API (no preset name)."""

    def make(sender):
        credential = credential_create(tenant=acme, name=f"{sender}-secret", value=SECRETS[sender])
        response = alice_client.post(
            "/manage/tenants/acme/projects/support/agents/triage/triggers",
            {"id": sender, "name": sender, "signatureVerification": CONFIGS[sender],
             "signingSecretCredentialReferenceId": str(credential.pk)},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.content
        return Trigger.objects.get(public_id=sender)

    return make


def post(client, trigger, body=BODY, **headers):
    return client.post(
        f"/hooks/{trigger.webhook_endpoint.token}",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def assert_accepted(response):
    assert response.status_code == 202, response.content
    execution = Execution.objects.get()
    assert execution.request_payload["raw_body"] == BODY.decode()
    assert execution.input_data["payload"] == json.loads(BODY)


def assert_refused(response, code):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert not Execution.objects.exists()


# --- GitHub ------------------------------------------------------------------------------


def github_headers(body=BODY):
    digest = hmac.new(SECRETS["github"].encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1"}


def test_github_accepts_a_signed_delivery(client, hook):
    assert_accepted(post(client, hook("github"), **github_headers()))


def test_github_refuses_a_flipped_byte(client, hook):
    assert_refused(post(client, hook("github"), FLIPPED, **github_headers()), "invalid_signature")


def test_github_refuses_a_missing_header(client, hook):
    assert_refused(post(client, hook("github"), X_GitHub_Delivery="d-1"), "missing_signature")


# --- Stripe ------------------------------------------------------------------------------


def stripe_header(timestamp=None):
    return stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), SECRETS["stripe"], timestamp=timestamp or int(time.time())
    )


def test_stripe_accepts_a_signed_delivery(client, hook):
    header = stripe_header()
    stripe.WebhookSignature.verify_header(BODY, header, SECRETS["stripe"], tolerance=300)

    assert_accepted(post(client, hook("stripe"), Stripe_Signature=header))


def test_stripe_refuses_a_flipped_byte(client, hook):
    response = post(client, hook("stripe"), FLIPPED, Stripe_Signature=stripe_header())
    assert_refused(response, "invalid_signature")


def test_stripe_refuses_a_missing_header(client, hook):
    assert_refused(post(client, hook("stripe")), "missing_signature")


def test_stripe_refuses_a_stale_timestamp(client, hook):
    header = stripe_header(timestamp=int(time.time()) - STALE)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY, header, SECRETS["stripe"], tolerance=300)

    assert_refused(post(client, hook("stripe"), Stripe_Signature=header), "stale_timestamp")


# --- Slack -------------------------------------------------------------------------------


def slack_headers(timestamp=None, body=BODY):
    timestamp = str(timestamp or int(time.time()))
    verifier = SignatureVerifier(SECRETS["slack"])
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body),
    }


def test_slack_accepts_a_signed_delivery(client, hook):
    headers = slack_headers()
    assert SignatureVerifier(SECRETS["slack"]).is_valid_request(BODY, headers)

    assert_accepted(post(client, hook("slack"), **headers))


def test_slack_refuses_a_flipped_byte(client, hook):
    assert_refused(post(client, hook("slack"), FLIPPED, **slack_headers()), "invalid_signature")


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("X-Slack-Signature", "missing_signature"),
        ("X-Slack-Request-Timestamp", "missing_signed_component"),
    ],
)
def test_slack_refuses_a_missing_header(client, hook, missing, code):
    headers = slack_headers()
    del headers[missing]

    assert_refused(post(client, hook("slack"), **headers), code)


def test_slack_refuses_a_stale_timestamp(client, hook):
    headers = slack_headers(timestamp=int(time.time()) - STALE)
    assert not SignatureVerifier(SECRETS["slack"]).is_valid_request(BODY, headers)

    assert_refused(post(client, hook("slack"), **headers), "stale_timestamp")


# --- Standard Webhooks -------------------------------------------------------------------


def standard_headers(moment=None, body=BODY):
    moment = moment or datetime.now(tz=UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(SECRETS["standard_webhooks"]).sign(
            "msg_1", moment, body.decode()
        ),
    }


def test_standard_webhooks_accepts_a_signed_delivery(client, hook):
    headers = standard_headers()
    Webhook(SECRETS["standard_webhooks"]).verify(BODY, headers)

    assert_accepted(post(client, hook("standard_webhooks"), **headers))
    assert Execution.objects.get().idempotency_key == "msg_1"


def test_standard_webhooks_refuses_a_flipped_byte(client, hook):
    response = post(client, hook("standard_webhooks"), FLIPPED, **standard_headers())
    assert_refused(response, "invalid_signature")


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("webhook-signature", "missing_signature"),
        ("webhook-id", "missing_signed_component"),
        ("webhook-timestamp", "missing_signed_component"),
    ],
)
def test_standard_webhooks_refuses_a_missing_header(client, hook, missing, code):
    headers = standard_headers()
    del headers[missing]

    assert_refused(post(client, hook("standard_webhooks"), **headers), code)


def test_standard_webhooks_refuses_a_stale_timestamp(client, hook):
    moment = datetime.fromtimestamp(time.time() - STALE, tz=UTC)

    response = post(client, hook("standard_webhooks"), **standard_headers(moment))
    assert_refused(response, "stale_timestamp")
