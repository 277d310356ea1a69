"""The compiled pipeline without the database: step order, misconfigured settings, preset
idempotency, what is stored."""

import base64
import hashlib
import hmac
import json

import pytest

from triggers import budgets
from webhooks.authentication import store_authentication
from webhooks.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    TriggerMisconfigured,
    Unauthorized,
    UnprocessableEntity,
    WebhookRejected,
)
from webhooks.idempotency import extract_idempotency_key
from webhooks.pipeline import (
    SECRET_HEADERS,
    Accepted,
    Challenge,
    WebhookRequest,
    compile_pipeline,
    stored_request,
)

SECRET = "s3cret"
BODY = json.dumps({"id": "evt_9", "event_id": "Ev01", "issue": {"title": "Bug"}}).encode()
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SCHEMA = {"type": "object", "required": ["issue"]}


def github_signature(body=BODY, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request(body=BODY, content_type="application/json", query=None, **headers):
    """A request; header names as keywords, X_GitHub_Event for X-GitHub-Event."""
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    return WebhookRequest(body=body, headers=headers, query=query or {}, content_type=content_type)


def run(pipeline, req, *, credentials=None, limit=1024):
    return pipeline.run(
        req,
        credential_value=(credentials or {}).get,
        max_body_bytes=limit,
        tolerance_seconds=300,
    )


def github(**settings):
    return compile_pipeline(
        signature_verification={"preset": "github"}, signing_secret=SECRET, **settings
    )


def test_a_signed_delivery_becomes_input_and_the_request_as_received():
    pipeline = github(
        message_template="{{ headers.X-GitHub-Event }}: {{ body.issue.title }} ({{ query.v }})",
        output_transform="{title: issue.title}",
    )

    accepted = run(
        pipeline,
        request(
            query={"v": ["1"]}, X_Hub_Signature_256=github_signature(), X_GitHub_Event="issues"
        ),
    )

    assert isinstance(accepted, Accepted)
    assert accepted.input_data == {"message": "issues: Bug (1)", "payload": {"title": "Bug"}}
    assert accepted.request_payload["raw_body"] == BODY.decode()
    assert accepted.request_payload["body"] == json.loads(BODY)
    assert accepted.request_payload["query"] == {"v": "1"}


def test_credentials_are_never_stored():
    pipeline = compile_pipeline(
        authentication_config={"type": "bearer", "credentialReferenceId": "k"}
    )

    accepted = run(
        pipeline,
        request(Authorization="Bearer k3y", Cookie="a=b", X_Api_Key="x", X_Other="kept"),
        credentials={"k": "k3y"},
    )

    assert set(accepted.request_payload["headers"]) == {"X-Other"}


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        # Size comes first: an oversized unsigned body is 413, not 401.
        (request(b"x" * 2000), PayloadTooLarge),
        # The signature before parsing: a forged, unparsable body is 401, not 400.
        (request(b"{not json", X_Hub_Signature_256=github_signature()), Unauthorized),
        # Parsing before the schema: a signed, unparsable body is 400.
        (request(b"{bad", X_Hub_Signature_256=github_signature(b"{bad")), BadRequest),
        # The schema last: a signed, parsable body that breaks it is 422.
        (request(b"[]", X_Hub_Signature_256=github_signature(b"[]")), UnprocessableEntity),
    ],
)
def test_the_steps_run_in_order(req, expected):
    with pytest.raises(expected):
        run(github(input_schema=SCHEMA), req)


def test_slack_url_verification_is_answered_after_the_signature_and_before_the_schema():
    handshake = json.dumps({"type": "url_verification", "challenge": "c-1"}).encode()
    pipeline = github(input_schema={"required": ["never_there"]})

    signed = run(pipeline, request(handshake, X_Hub_Signature_256=github_signature(handshake)))
    assert signed == Challenge("c-1")
    with pytest.raises(Unauthorized):
        run(pipeline, request(handshake))


def test_a_rotated_secret_accepts_the_old_and_the_new_one():
    pipeline = compile_pipeline(
        signature_verification={"preset": "github"}, signing_secret="new-one\nold-one\n"
    )

    for secret in ("new-one", "old-one"):
        run(pipeline, request(X_Hub_Signature_256=github_signature(secret=secret)))
    with pytest.raises(Unauthorized):
        run(pipeline, request(X_Hub_Signature_256=github_signature(secret="other")))


def test_a_signed_trigger_without_its_secret_fails_closed():
    pipeline = compile_pipeline(signature_verification={"preset": "github"}, signing_secret=None)

    with pytest.raises(Unauthorized) as rejected:
        run(pipeline, request(X_Hub_Signature_256=github_signature()))
    assert rejected.value.code == "credential_missing"


def test_a_missing_authentication_credential_fails_closed():
    pipeline = compile_pipeline(
        authentication_config={"type": "api_key", "credentialReferenceId": "k"}
    )

    with pytest.raises(Unauthorized) as rejected:
        run(pipeline, request(X_API_Key="anything"), credentials={})
    assert rejected.value.code == "credential_missing"


@pytest.mark.parametrize(
    ("preset", "headers", "key"),
    [
        ("stripe", {}, "evt_9"),  # the event id in the body
        ("slack", {}, "Ev01"),  # the Events API envelope's event_id
        ("github", {"X-GitHub-Delivery": "d-7", "Idempotency-Key": "other"}, "d-7"),
        ("standard_webhooks", {"webhook-id": "msg_3"}, "msg_3"),
    ],
)
def test_each_preset_deduplicates_on_its_senders_delivery_id(preset, headers, key):
    pipeline = compile_pipeline(signature_verification={"preset": preset}, signing_secret=SW_SECRET)

    assert extract_idempotency_key(pipeline.idempotency, headers, json.loads(BODY)) == key


def test_an_explicit_idempotency_key_overrides_the_presets():
    pipeline = github(idempotency_key={"source": "body", "path": "issue.title"})

    accepted = run(pipeline, request(X_Hub_Signature_256=github_signature(), X_GitHub_Delivery="d"))

    assert accepted.idempotency_key == "Bug"


def test_without_a_preset_the_default_headers_are_the_key():
    accepted = run(compile_pipeline(), request(Idempotency_Key="k-1"))
    assert accepted.idempotency_key == "k-1"
    assert run(compile_pipeline(), request()).idempotency_key is None


def test_a_slack_event_trigger_with_a_secret_verifies_slack_signatures_by_default():
    pipeline = compile_pipeline(signing_secret=SECRET, default_preset="slack")

    assert pipeline.signature["signature"]["key"] == "X-Slack-Signature"
    with pytest.raises(Unauthorized):
        run(pipeline, request())
    # Without a secret there is nothing to verify with: the unguessable URL is the guard.
    assert compile_pipeline(default_preset="slack").signature is None


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"authentication_config": {"type": "magic"}}, "authentication"),
        ({"signature_verification": {"preset": "nope"}}, "signatureVerification"),
        ({"signature_verification": {"algorithm": "sha3_256"}}, "signatureVerification"),
        ({"signature_verification": ["github"]}, "signatureVerification"),
        (
            {
                "signature_verification": {"preset": "standard_webhooks"},
                "signing_secret": "whsec_!",
            },
            "signingSecret",
        ),
        ({"input_schema": {"type": "strin"}}, "inputSchema"),
        ({"message_template": "{{ body.x "}, "messageTemplate"),
        ({"output_transform": "issue.["}, "outputTransform"),
        ({"idempotency_key": {"source": "cookie"}}, "config.idempotencyKey"),
    ],
)
def test_a_setting_that_does_not_compile_is_a_500_naming_it_not_its_value(settings, named):
    with pytest.raises(TriggerMisconfigured) as misconfigured:
        compile_pipeline(**settings)

    problem = misconfigured.value.api_error()
    assert (problem.status, problem.code) == (500, "trigger_misconfigured")
    assert named in problem.detail
    assert isinstance(misconfigured.value, WebhookRejected)


# --- issue 14: header authentication, what is stored, the transform object ----------------


def test_header_authentication_runs_in_the_pipeline_without_a_credential():
    pipeline = compile_pipeline(
        authentication_config=store_authentication(
            {"headers": [{"name": "X-Token", "value": "tok-value-1"}]}
        )
    )

    assert isinstance(run(pipeline, request(X_Token="tok-value-1")), Accepted)
    with pytest.raises(Unauthorized):
        run(pipeline, request())
    with pytest.raises(Forbidden) as wrong:
        run(pipeline, request(X_Token="tok-value-2"))
    assert wrong.value.status == 403


@pytest.mark.parametrize(
    ("authentication", "credentials"),
    [
        (store_authentication({"headers": [{"name": "X-Token", "value": "tok-value-1"}]}), {}),
        (
            {"type": "api_key", "header": "X-Token", "credentialReferenceId": "k"},
            {"k": "tok-value-1"},
        ),
    ],
)
def test_the_triggers_own_authentication_headers_are_never_stored(authentication, credentials):
    pipeline = compile_pipeline(authentication_config=authentication)

    accepted = run(
        pipeline,
        request(x_token="tok-value-1", Authorization="Bearer other", X_Other="kept"),
        credentials=credentials,
    )

    assert set(accepted.request_payload["headers"]) == {"X-Other"}
    assert "tok-value-1" not in json.dumps(accepted.request_payload)


def test_stored_request_leaves_out_the_headers_it_is_given_in_any_case():
    req = request(X_Token="t", x_api_key="k", X_Kept="v")

    assert set(stored_request(req, None)["headers"]) == {"X-Token", "X-Kept"}
    assert set(
        stored_request(req, None, secret_headers=SECRET_HEADERS | {"x-token"})["headers"]
    ) == {"X-Kept"}


def test_a_clear_header_value_in_the_stored_setting_does_not_compile():
    with pytest.raises(TriggerMisconfigured) as misconfigured:
        compile_pipeline(authentication_config={"headers": [{"name": "X-A", "value": "v"}]})

    assert misconfigured.value.setting == "authentication"
    assert misconfigured.value.reason.startswith(
        "authentication.headers[0].value: a header value is never stored in clear"
    )


def test_the_output_transform_object_shapes_the_payload():
    pipeline = compile_pipeline(
        output_transform={"objectTransformation": {"title": "issue.title", "id": "id"}}
    )

    accepted = run(pipeline, request())

    assert accepted.input_data["payload"] == {"title": "Bug", "id": "evt_9"}
    assert compile_pipeline(output_transform={"jmespath": "issue"}).transform.search(
        json.loads(BODY)
    ) == {"title": "Bug"}


def test_a_bad_output_transform_object_is_a_500_naming_the_setting():
    with pytest.raises(TriggerMisconfigured) as misconfigured:
        compile_pipeline(output_transform={"objectTransformation": {"t": "a.["}})

    assert misconfigured.value.setting == "outputTransform"
    assert misconfigured.value.reason.startswith("outputTransform.objectTransformation.t:")


def test_without_a_preset_a_whsec_secret_is_tried_as_written_and_decoded():
    pipeline = compile_pipeline(
        signature_verification={
            "algorithm": "sha256",
            "encoding": "hex",
            "signature": {"source": "header", "key": "X-Sig"},
            "signedComponents": [{"source": "body"}],
        },
        signing_secret=SW_SECRET,
    )
    decoded = base64.b64decode(SW_SECRET.removeprefix("whsec_"))

    assert pipeline.secrets == (SW_SECRET.encode(), decoded)
    for key in pipeline.secrets:
        run(pipeline, request(X_Sig=hmac.new(key, BODY, hashlib.sha256).hexdigest()))
    # A named preset reads the secret one way only.
    assert compile_pipeline(
        signature_verification={"preset": "stripe"}, signing_secret=SW_SECRET
    ).secrets == (SW_SECRET.encode(),)


def test_a_deliverys_checks_spend_one_budget_between_them(monkeypatch):
    monkeypatch.setattr(budgets, "BASE_SECONDS", 600.0)  # the steps decide, not the machine
    # Each walk of 20,000 items costs about 200,000 of the delivery's 340,000 steps
    # (triggers/budgets.py): the filter or the transform alone fits, both together do not.
    body = json.dumps({"items": [0] * 20_000}).encode()
    walk = "length({}items[?@ == `0`] | [?@ == `0`])"
    costly_filter = {"filter": walk.format("payload.") + " > `0`"}  # the request document
    costly_transform = f"{{n: {walk.format('')}}}"
    limit = 10 * len(body)

    alone = run(compile_pipeline(config=costly_filter), request(body), limit=limit)
    transformed = run(
        compile_pipeline(output_transform=costly_transform), request(body), limit=limit
    )
    with pytest.raises(UnprocessableEntity) as refused:
        run(
            compile_pipeline(config=costly_filter, output_transform=costly_transform),
            request(body),
            limit=limit,
        )

    assert isinstance(alone, Accepted)
    assert transformed.input_data["payload"] == {"n": 20_000}
    assert "steps" in str(refused.value)
