"""The management API's invocations as the platform's UI reads them (issue 26): for a delivery
signed by each scheme the management API verifies, ``requestPayload`` is the delivered JSON
body itself, ``transformedPayload`` what the outputTransform made of it, and the rest of the
request is ``requestHeaders`` / ``requestQuery`` (never a signature). Triggers are made with
the UI's own create body; deliveries are signed by the senders' own libraries where they
exist (stripe, slack_sdk, standardwebhooks; hmac for GitHub and a generic sender)."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from accounts.services import credential_create
from executions.models import Execution
from executions.services import lifecycle
from webhooks.presets import preset_config

BASE = "/manage/tenants/acme/projects/support/agents/triage/triggers"
ORDER = {"id": "evt_1", "type": "order.created", "order": {"id": 7, "customer": "ada"},
         "note": "héllo"}  # fmt: skip
BODY = json.dumps(ORDER, ensure_ascii=False).encode()
TRANSFORMED = {"order": 7, "who": "ada"}
INVOCATION_KEYS = {
    "id", "triggerId", "status", "createdAt", "conversationId", "errorMessage",
    "requestPayload", "transformedPayload", "requestHeaders", "requestQuery", "runAsUserId",
    "deliveryCount",
}  # fmt: skip

GENERIC_SECRET = "generic-shared-secret"
SECRETS = {
    "hmac_sha256_header": GENERIC_SECRET,
    "hmac_sha512_query": GENERIC_SECRET,
    "github": "It's a Secret to Everybody",
    "stripe": "whsec_stripe_test_secret",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
# A sender that signs "<X-Timestamp>.<body>" with HMAC-SHA256, hex, in X-Signature: the
# contract's own object, every key written out as the UI sends it.
VALIDATION = {"allowEmptyBody": False, "headerCaseSensitive": False, "normalizeUnicode": False}
GENERIC_HEADER = {
    "algorithm": "sha256",
    "encoding": "hex",
    "signature": {"source": "header", "key": "X-Signature", "prefix": "sha256=", "regex": None},
    "signedComponents": [
        {"source": "header", "key": "X-Timestamp", "regex": None, "required": True},
        {"source": "body", "key": None, "regex": None, "required": True, "value": None},
    ],
    "componentJoin": {"strategy": "concatenate", "separator": "."},
    "validation": VALIDATION,
}
# One that signs the body with HMAC-SHA512, base64, in the query parameter ``sig``.
GENERIC_QUERY = {
    "algorithm": "sha512",
    "encoding": "base64",
    "signature": {"source": "query", "key": "sig"},
    "signedComponents": [{"source": "body"}],
    "componentJoin": {"strategy": "concatenate", "separator": ""},
    "validation": VALIDATION,
}
SIGNATURE_CONFIGS = {
    "hmac_sha256_header": GENERIC_HEADER,
    "hmac_sha512_query": GENERIC_QUERY,
    **{name: preset_config(name) for name in ("github", "stripe", "slack", "standard_webhooks")},
}


def generic_header_signed() -> tuple[dict, dict]:
    timestamp = str(int(time.time()))
    digest = hmac.new(GENERIC_SECRET.encode(), timestamp.encode() + b"." + BODY, hashlib.sha256)
    return {"X-Timestamp": timestamp, "X-Signature": f"sha256={digest.hexdigest()}"}, {}


def generic_query_signed() -> tuple[dict, dict]:
    digest = hmac.new(GENERIC_SECRET.encode(), BODY, hashlib.sha512).digest()
    return {}, {"sig": base64.b64encode(digest).decode()}


def github_signed() -> tuple[dict, dict]:
    digest = hmac.new(SECRETS["github"].encode(), BODY, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1",
            "X-GitHub-Event": "push"}, {}  # fmt: skip


def stripe_signed() -> tuple[dict, dict]:
    header = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), SECRETS["stripe"], timestamp=int(time.time())
    )
    return {"Stripe-Signature": header}, {}


def slack_signed() -> tuple[dict, dict]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRETS["slack"]).generate_signature(
        timestamp=timestamp, body=BODY
    )
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}, {}


def standard_webhooks_signed() -> tuple[dict, dict]:
    moment = datetime.now(tz=UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(SECRETS["standard_webhooks"]).sign(
            "msg_1", moment, BODY.decode()
        ),
    }, {}


# scheme -> (how its sender signs, the header or query parameter that carries the signature)
SCHEMES = {
    "hmac_sha256_header": (generic_header_signed, "X-Signature"),
    "hmac_sha512_query": (generic_query_signed, "sig"),
    "github": (github_signed, "X-Hub-Signature-256"),
    "stripe": (stripe_signed, "Stripe-Signature"),
    "slack": (slack_signed, "X-Slack-Signature"),
    "standard_webhooks": (standard_webhooks_signed, "webhook-signature"),
}


@pytest.fixture
def ui_trigger(acme, alice_client, acme_agent):
    """make(scheme) -> the trigger's management API data, created with the UI's body."""

    def make(scheme):
        credential = credential_create(tenant=acme, name=f"{scheme}-secret", value=SECRETS[scheme])
        response = alice_client.post(
            BASE,
            {
                "id": "orders",
                "name": "Orders",
                "description": "New orders from the shop",
                "enabled": True,
                "messageTemplate": "Order {{body.order.id}} from {{body.order.customer}}",
                "outputTransform": {
                    "objectTransformation": {"order": "order.id", "who": "order.customer"}
                },
                "signatureVerification": SIGNATURE_CONFIGS[scheme],
                "signingSecretCredentialReferenceId": str(credential.pk),
                "runAsUserIds": [],
                "runAsUserId": None,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()["data"]

    return make


def deliver(client, data, headers: dict, query: dict):
    path = data["webhookUrl"].split("triggers.example.test", 1)[1]
    query_string = urlencode({"source": "shop", **query})
    return client.post(
        f"{path}?{query_string}",
        data=BODY,
        content_type="application/json",
        headers={"X-Shop": "acme-shop", **headers},
    )


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_an_invocation_shows_the_delivered_body_and_what_the_transform_made(
    client, alice_client, ui_trigger, scheme
):
    sign, signature_name = SCHEMES[scheme]
    data = ui_trigger(scheme)
    headers, query = sign()

    delivered = deliver(client, data, headers, query)

    assert delivered.status_code == 202, delivered.content
    execution = Execution.objects.get()
    assert execution.request_payload["body"] == ORDER
    assert execution.input_data["payload"] == TRANSFORMED
    listed = alice_client.get(f"{BASE}/orders/invocations").json()["data"]
    one = alice_client.get(f"{BASE}/orders/invocations/{execution.execution_id}").json()["data"]
    assert listed == [one]
    assert set(one) == INVOCATION_KEYS
    assert one["requestPayload"] == ORDER
    assert one["transformedPayload"] == TRANSFORMED
    assert one["id"] == str(execution.execution_id)
    assert (one["triggerId"], one["status"]) == ("orders", "pending")
    assert one["requestHeaders"]["X-Shop"] == "acme-shop"
    assert one["requestQuery"] == {"source": "shop"}
    shown = json.dumps(one)
    assert signature_name not in one["requestHeaders"]
    assert (headers or query)[signature_name] not in shown


def test_a_rerun_invocation_has_no_delivered_body(alice_client, ui_trigger):
    ui_trigger("github")

    rerun = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "again"}, format="json")

    assert rerun.status_code == 202, rerun.content
    execution = Execution.objects.get()
    assert (execution.request_payload, execution.input_data["message"]) == (None, "again")
    one = alice_client.get(f"{BASE}/orders/invocations/{execution.execution_id}").json()["data"]
    assert (one["requestPayload"], one["transformedPayload"]) == (None, None)
    assert (one["requestHeaders"], one["requestQuery"]) == (None, None)


def test_a_rerun_keeps_its_conversation_when_the_runner_names_none(alice_client, ui_trigger):
    ui_trigger("github")
    rerun = alice_client.post(f"{BASE}/orders/rerun", {"userMessage": "again"}, format="json")
    conversation = rerun.json()["conversationId"]
    execution = Execution.objects.get()

    finished = lifecycle.execution_run(execution_id=execution.execution_id)  # dry_run: no id

    assert finished.conversation_id == conversation
    one = alice_client.get(f"{BASE}/orders/invocations/{execution.execution_id}").json()["data"]
    assert (one["status"], one["conversationId"]) == ("success", conversation)


def test_a_form_encoded_delivery_shows_its_parsed_fields(client, alice_client, acme_agent):
    created = alice_client.post(BASE, {"id": "form", "name": "Form"}, format="json")
    path = created.json()["data"]["webhookUrl"].split("triggers.example.test", 1)[1]

    response = client.post(
        path, data="order=7&who=ada", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 202, response.content
    one = alice_client.get(f"{BASE}/form/invocations").json()["data"][0]
    assert Execution.objects.get().request_payload["body"] == {"order": "7", "who": "ada"}
    assert one["requestPayload"] == {"order": "7", "who": "ada"}
    assert one["transformedPayload"] == one["requestPayload"]  # no outputTransform


@pytest.mark.parametrize(
    ("transform", "template", "message"),
    [
        # The sender's own names, from the payload's root (the body, with no transform) …
        (
            None,
            "{{type}}: order {{order.id}} for {{order.customer}}",
            "order.created: order 7 for ada",
        ),
        # … from what the outputTransform made of it when there is one, the request beside it.
        (
            {"objectTransformation": {"order": "order.id", "who": "order.customer"}},
            "Order {{order}} for {{who}} ({{body.type}}, via {{headers.x-shop}}, {{query.source}})",
            "Order 7 for ada (order.created, via acme-shop, shop)",
        ),
        # A name neither has renders empty, as a missing path does.
        (None, "[{{missing}}] [{{who}}]", "[] []"),
    ],
)
def test_a_message_template_reads_the_payload_from_its_root(
    client, alice_client, acme_agent, transform, template, message
):
    created = alice_client.post(
        BASE,
        {
            "id": "orders",
            "name": "Orders",
            "messageTemplate": template,
            "outputTransform": transform,
        },
        format="json",
    )
    assert created.status_code == 201, created.content

    delivered = deliver(client, created.json()["data"], headers={}, query={})

    assert delivered.status_code == 202, delivered.content
    assert Execution.objects.get().input_data["message"] == message
