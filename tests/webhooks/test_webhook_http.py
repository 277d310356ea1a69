"""Webhook endpoints over HTTP, beyond the per-scheme tests of
tests/executions/test_webhook_ingestion.py: a broker outage, tenant safety, every inactive
status, preset idempotency, misconfigured triggers, the declared length, limits under
concurrency. Every rejection is problem+json and stores nothing."""

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime

import httpx
import pytest
import redis
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from accounts.services import credential_create
from config.celery import app as celery_app
from executions import dispatch
from executions.models import Execution
from tests.conftest import free_port
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from webhooks.models import WebhookEndpoint

BODY = json.dumps({"id": "evt_1", "event_id": "Ev1", "issue": {"title": "Bug"}}).encode()
SECRETS = {
    "github": "gh-s3cret",
    "stripe": "whsec_stripe_test",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def sign(preset, body=BODY, *, at=None):
    """The headers the sender's own library (hmac for GitHub) puts on ``body``."""
    at = int(at or time.time())
    secret = SECRETS[preset]
    if preset == "github":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1"}
    if preset == "stripe":
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, timestamp=at
        )
        return {"Stripe-Signature": header}
    if preset == "slack":
        signature = SignatureVerifier(secret).generate_signature(timestamp=str(at), body=body)
        return {"X-Slack-Request-Timestamp": str(at), "X-Slack-Signature": signature}
    moment = datetime.fromtimestamp(at, tz=UTC)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(at),
        "webhook-signature": Webhook(secret).sign("msg_1", moment, body.decode()),
    }


@pytest.fixture
def hook(acme, make_trigger):
    def make(preset=None, tenant=None, **fields):
        tenant = tenant or acme
        if preset:
            credential = credential_create(tenant=tenant, name=preset, value=SECRETS[preset])
            fields.update(signature_verification={"preset": preset}, signing_secret=credential)
        return make_trigger(tenant, "webhook", **fields)

    return make


def post(client, trigger, body=BODY, **headers):
    return client.post(
        f"/hooks/{trigger.webhook_endpoint.token}", data=body, content_type="application/json",
        headers=headers,
    )  # fmt: skip


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert (response.json()["status"], response.json()["code"]) == (status, code)
    assert not Execution.objects.exists()


# -- each scheme, signed by its library: accepted once, with what was received kept -------


@pytest.mark.parametrize("preset", ["github", "stripe", "slack", "standard_webhooks"])
def test_a_valid_delivery_keeps_the_raw_request_and_the_transformed_input(client, hook, preset):
    trigger = hook(preset, output_transform="issue.title", message_template="{{ body.id }}")

    response = post(client, trigger, **sign(preset))

    assert response.status_code == 202, response.content
    execution = Execution.objects.get()
    assert response.json()["execution_id"] == str(execution.execution_id)
    assert execution.input_data == {"message": "evt_1", "payload": "Bug"}
    assert execution.request_payload["raw_body"] == BODY.decode()
    assert execution.request_payload["body"] == json.loads(BODY)


@pytest.mark.parametrize("preset", ["github", "stripe", "slack", "standard_webhooks"])
def test_a_retried_delivery_is_one_execution_without_configuring_a_key(client, hook, preset):
    trigger = hook(preset)

    first = post(client, trigger, **sign(preset))
    retry = post(client, trigger, **sign(preset))

    assert (first.status_code, retry.status_code) == (202, 200)
    assert retry.json() == {**first.json(), "duplicate": True}
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    ("preset", "drop"),
    [
        ("slack", "X-Slack-Signature"),
        ("slack", "X-Slack-Request-Timestamp"),
        ("standard_webhooks", "webhook-signature"),
        ("standard_webhooks", "webhook-timestamp"),
        ("github", "X-Hub-Signature-256"),
        ("stripe", "Stripe-Signature"),
    ],
)
def test_a_missing_header_is_401(client, hook, preset, drop):
    headers = {k: v for k, v in sign(preset).items() if k != drop}

    response = post(client, hook(preset), **headers)

    assert response.status_code == 401
    assert_problem(response, 401, response.json()["code"])


@pytest.mark.parametrize("preset", ["stripe", "slack", "standard_webhooks"])
def test_a_replay_of_a_captured_delivery_after_the_window_is_401(client, hook, preset):
    captured = sign(preset, at=time.time() - 301)

    assert_problem(post(client, hook(preset), **captured), 401, "stale_timestamp")


def test_a_slack_event_trigger_verifies_slack_signatures_and_fires_slack_executions(
    client, acme, make_trigger
):
    secret = credential_create(tenant=acme, name="slack", value=SECRETS["slack"])
    trigger = make_trigger(acme, "event", provider_id="slack", signing_secret=secret)

    assert_problem(post(client, trigger), 401, "missing_signature")
    assert post(client, trigger, **sign("slack")).status_code == 202
    assert Execution.objects.get().execution_type == "slack"


# -- statuses, URLs, methods ------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [TriggerStatus.INACTIVE, TriggerStatus.FAILED, TriggerStatus.STALE, TriggerStatus.COMPLETED],
)
def test_a_trigger_that_is_not_active_answers_409_and_stores_nothing(client, hook, status):
    trigger = hook("github")
    Trigger.objects.filter(pk=trigger.pk).update(status=status)

    assert_problem(post(client, trigger, **sign("github")), 409, "trigger_not_active")


def test_unknown_urls_and_other_methods_are_problems(client, hook):
    trigger = hook(webhook_path="/in/news")

    assert_problem(client.post("/hooks/nope", data=BODY, content_type="application/json"),
                   404, "not_found")  # fmt: skip
    assert_problem(client.post("/hooks/p/in/other", data=BODY, content_type="application/json"),
                   404, "not_found")  # fmt: skip
    for method in (client.get, client.put, client.delete):
        response = method(f"/hooks/{trigger.webhook_endpoint.token}")
        assert_problem(response, 405, "method_not_allowed")
        assert response["Allow"] == "POST"


def test_a_trailing_slash_is_accepted_on_the_token_url(client, hook):
    trigger = hook()

    response = client.post(f"/hooks/{trigger.webhook_endpoint.token}/", data=BODY,
                           content_type="application/json")  # fmt: skip

    assert response.status_code == 202


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(client, hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    trigger = hook()

    # The test client's payload refuses reads past the bytes it holds: this proves no read.
    declared = client.post(f"/hooks/{trigger.webhook_endpoint.token}", data=BODY,
                           content_type="application/json", CONTENT_LENGTH="5000")  # fmt: skip
    chunked = client.post(f"/hooks/{trigger.webhook_endpoint.token}", data=BODY,
                          content_type="application/json",
                          headers={"Transfer-Encoding": "chunked"})  # fmt: skip

    assert_problem(declared, 413, "payload_too_large")
    assert_problem(chunked, 411, "length_required")


@pytest.mark.parametrize(
    "setting",
    [
        {"input_schema": {"type": "strin"}},
        {"output_transform": "issue.["},
        {"signature_verification": {"preset": "unknown"}},
        {"config": {"idempotencyKey": {"source": "cookie"}}},
    ],
)
def test_a_stored_setting_that_does_not_compile_is_500_problem_json(client, hook, setting):
    trigger = hook()
    # Past validation, as old data.
    if "config" in setting:
        Trigger.objects.filter(pk=trigger.pk).update(**setting)
    else:
        WebhookEndpoint.objects.filter(pk=trigger.pk).update(**setting)

    assert_problem(post(client, trigger), 500, "trigger_misconfigured")


def test_an_edited_trigger_never_runs_its_old_settings(client, hook):
    trigger = hook(input_schema={"type": "object", "required": ["id"]})
    assert post(client, trigger).status_code == 202

    WebhookEndpoint.objects.filter(pk=trigger.pk).update(input_schema={"required": ["missing"]})
    response = post(client, trigger, Idempotency_Key="another")

    assert response.status_code == 422
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    "path", ["no-slash", "/with space", "/double//slash", "/q?x=1", "/ü", "//"]
)
def test_a_custom_path_must_be_a_plain_url_path(hook, path):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        hook(webhook_path=path)
    assert "webhook_path" in refused.value.message_dict


def test_a_custom_path_clash_is_refused_across_tenants_naming_the_field(hook, globex):
    hook(webhook_path="/in/news")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as clash:
        hook(webhook_path="/in/news", tenant=globex)
    assert "webhook_path" in clash.value.message_dict


# -- tenant safety ----------------------------------------------------------------------


def test_a_token_fires_only_its_own_trigger(client, hook, acme, globex):
    ours, theirs = hook(webhook_path="/acme/in"), hook(tenant=globex, webhook_path="/globex/in")

    assert post(client, ours).status_code == 202
    assert client.post("/hooks/p/globex/in", data=BODY,
                       content_type="application/json").status_code == 202  # fmt: skip

    by_trigger = {e.trigger_id: e.tenant_id for e in Execution.objects.all()}
    assert by_trigger == {ours.pk: acme.pk, theirs.pk: globex.pk}


def test_a_credential_reference_never_reaches_another_tenants_credential(client, hook, globex):
    credential_create(tenant=globex, name="shared-name", value="k3y")
    trigger = hook(authentication={"type": "bearer", "credentialReferenceId": "shared-name"})

    response = post(client, trigger, Authorization="Bearer k3y")

    assert_problem(response, 401, "credential_missing")


def test_a_signing_secret_of_another_tenant_is_refused_when_saving(hook, globex):
    from django.core.exceptions import ValidationError

    theirs = credential_create(tenant=globex, name="theirs", value="x")
    with pytest.raises(ValidationError) as refused:
        hook(signature_verification={"preset": "github"}, signing_secret=theirs)
    assert "signing_secret" in refused.value.message_dict


# -- limits under concurrency -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_limit_holds_under_parallel_deliveries(live_server, hook, race):
    trigger = hook("github", max_executions_per_hour=3)
    url = f"{live_server.url}/hooks/{trigger.webhook_endpoint.token}"

    numbers = iter(range(10))

    def deliver():
        headers = {**sign("github"), "X-GitHub-Delivery": f"d-{next(numbers)}"}
        return httpx.post(url, content=BODY, headers=headers, timeout=30)

    responses = race(deliver, 10)

    assert sorted(r.status_code for r in responses) == [202] * 3 + [429] * 7
    assert all(int(r.headers["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    assert Execution.objects.count() == 3


# -- a broker outage --------------------------------------------------------------------


@pytest.fixture
def broker_to_kill(monkeypatch):
    """A redis-server of this test's own as the publisher's broker (others' stay untouched)."""
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    original = celery_app.conf.broker_url

    def use(url):  # the publisher's pools are rebuilt lazily from the new URL
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its settings
        celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    use(f"redis://127.0.0.1:{port}/0")
    yield server, redis.Redis(port=port)
    use(original)
    if server.poll() is None:
        server.kill()
    server.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_redis_outage_does_not_fail_ingestion(client, hook, broker_to_kill, caplog, settings):
    server, broker = broker_to_kill
    trigger = hook("github")

    before = post(client, trigger, **sign("github"))
    assert before.status_code == 202
    dispatch.batch_publisher.flush()  # rather than wait EXECUTION_PUBLISH_BATCH_MS
    assert broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 1  # published after the commit

    server.kill()
    server.wait(timeout=10)
    during = post(client, trigger, **{**sign("github"), "X-GitHub-Delivery": "d-2"})

    assert during.status_code == 202, during.content
    execution = Execution.objects.get(execution_id=during.json()["execution_id"])
    assert execution.status == "pending"  # stored; the sweeper publishes it later
    dispatch.batch_publisher.flush()
    assert "Broker unavailable" in caplog.text
