"""A trigger this process has served is not looked up again, yet every change wins at once.

webhooks.delivery remembers webhook triggers by URL and checks, inside the execution's
INSERT, that the trigger is still active, without limits and unchanged. These tests serve a
trigger once (so it is remembered), change it the way its owner would, and deliver again.
"""

import hashlib
import hmac
import json

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import credential_set_value
from executions.models import Execution
from tests.conftest import GITHUB_SECRET
from triggers.choices import TriggerStatus
from triggers.services import trigger_create, trigger_delete, trigger_disable, trigger_update
from webhooks import delivery as ingestion

# Remembering needs Trigger.delivery_version, which PostgreSQL's database triggers keep.
pytestmark = pytest.mark.postgresql_only

BODY = json.dumps({"action": "opened", "issue": {"title": "Bug"}}).encode()


def sign(body=BODY, secret=GITHUB_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def hook(github_hook):
    return github_hook


def deliver(client, trigger, body=BODY, *, secret=GITHUB_SECRET, url=None, **headers):
    return client.post(
        url or f"/hooks/{trigger.webhook_endpoint.token}",
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": sign(body, secret), **headers},
    )


@pytest.fixture
def served(client, hook):
    """The hook after one delivery: remembered by this process."""
    assert deliver(client, hook).status_code == 202
    assert ("token", hook.webhook_endpoint.token) in ingestion._remembered
    return hook


def test_it_stores_the_next_delivery_with_one_statement(client, served):
    with CaptureQueriesContext(connection) as queries:
        accepted = deliver(client, served)

    assert accepted.status_code == 202
    # (The test's own transaction adds a savepoint around it; a request has none.)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, [sql[:80] for sql in statements]
    assert statements[0].startswith("INSERT")
    stored = Execution.objects.get(execution_id=accepted.json()["execution_id"])
    assert stored.trigger_id == served.pk and stored.tenant_id == served.tenant_id
    assert stored.input_data["payload"] == json.loads(BODY)
    assert stored.request_payload["raw_body"] == BODY.decode()
    assert stored.max_retries == served.max_retries


def test_a_disabled_trigger_answers_409_and_stores_nothing(client, served):
    trigger_disable(trigger=served)

    refused = deliver(client, served)

    assert refused.status_code == 409 and refused.json()["code"] == "trigger_not_active"
    assert Execution.objects.count() == 1  # the first delivery's


def test_a_rotated_secret_takes_effect_at_once(client, served):
    credential_set_value(credential=served.webhook_endpoint.signing_secret, value="new-secret")

    old = deliver(client, served, secret=GITHUB_SECRET)
    new = deliver(client, served, secret="new-secret")

    assert old.status_code == 401 and old.json()["code"] == "invalid_signature"
    assert new.status_code == 202
    assert Execution.objects.count() == 2


def test_a_changed_schema_takes_effect_at_once(client, served):
    trigger_update(trigger=served, input_schema={"type": "object", "required": ["ticket"]})

    refused = deliver(client, served)

    assert refused.status_code == 422 and refused.json()["code"] == "input_schema_mismatch"
    assert Execution.objects.count() == 1


def test_a_changed_template_is_used_at_once(client, served):
    trigger_update(trigger=served, message_template="Issue: {{ body.issue.title }}")

    accepted = deliver(client, served)

    stored = Execution.objects.get(execution_id=accepted.json()["execution_id"])
    assert stored.input_data["message"] == "Issue: Bug"


def test_limits_added_later_are_enforced(client, served):
    trigger_update(trigger=served, max_executions_per_hour=2)

    answers = [deliver(client, served).status_code for _ in range(2)]

    assert answers == [202, 429]  # the first delivery counts toward the hour
    assert Execution.objects.count() == 2


def test_a_moved_path_no_longer_answers(client, served):
    old_url, new_url = "/hooks/p/github/issues", "/hooks/p/github/all"
    assert deliver(client, served, url=old_url).status_code == 202  # remembered by path too
    trigger_update(trigger=served, webhook_path="/github/all")

    gone = deliver(client, served, url=old_url)
    moved = deliver(client, served, url=new_url)

    assert gone.status_code == 404
    assert moved.status_code == 202
    assert Execution.objects.count() == 3


def test_a_deleted_trigger_answers_404(client, served):
    token = served.webhook_endpoint.token
    trigger_delete(trigger=served)

    gone = client.post(f"/hooks/{token}", data=BODY, content_type="application/json",
                       headers={"X-Hub-Signature-256": sign()})  # fmt: skip

    assert gone.status_code == 404
    assert not Execution.objects.exists()


def test_a_status_changed_behind_its_back_is_seen(client, served):
    # Frozen by the worker with an UPDATE (trigger_record_outcome), not a save().
    type(served).objects.filter(pk=served.pk).update(status=TriggerStatus.FAILED)

    assert deliver(client, served).status_code == 409
    assert Execution.objects.count() == 1


def test_a_retry_count_changed_behind_its_back_is_copied_to_the_next_execution(client, served):
    type(served).objects.filter(pk=served.pk).update(max_retries=served.max_retries + 4)

    accepted = deliver(client, served)

    stored = Execution.objects.get(execution_id=accepted.json()["execution_id"])
    assert stored.max_retries == served.max_retries + 4


def test_the_execution_counters_a_worker_updates_do_not_unsettle_it(client, served):
    # Every finished execution updates the trigger's row (trigger_record_outcome); that
    # must not send each delivery the full way.
    type(served).objects.filter(pk=served.pk).update(execution_count=7, error_count=2)

    with CaptureQueriesContext(connection) as queries:
        assert deliver(client, served).status_code == 202

    assert [q["sql"][:6] for q in queries if "SAVEPOINT" not in q["sql"]] == ["INSERT"]


def test_a_trigger_without_a_version_is_served_but_not_remembered(client, hook):
    # As if the database triggers that keep it were missing: every INSERT would miss.
    type(hook.webhook_endpoint).objects.filter(pk=hook.pk).update(delivery_version=None)

    first, second = deliver(client, hook), deliver(client, hook)

    assert (first.status_code, second.status_code) == (202, 202)
    assert ("token", hook.webhook_endpoint.token) not in ingestion._remembered
    assert Execution.objects.count() == 2


def test_a_repeated_delivery_id_is_one_execution(client, served):
    first = deliver(client, served, **{"X-GitHub-Delivery": "d-7"})
    again = deliver(client, served, **{"X-GitHub-Delivery": "d-7"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {**first.json(), "duplicate": True}
    assert Execution.objects.filter(idempotency_key="d-7").count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_identical_deliveries_to_a_remembered_trigger_make_one(
    live_server, hook, race
):
    url = f"{live_server.url}/hooks/{hook.webhook_endpoint.token}"
    headers = {"X-Hub-Signature-256": sign(), "Content-Type": "application/json"}
    assert httpx.post(url, content=BODY, headers=headers, timeout=30).status_code == 202

    repeat = {**headers, "X-GitHub-Delivery": "delivery-42"}
    responses = race(lambda: httpx.post(url, content=BODY, headers=repeat, timeout=30), 10)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [202], statuses
    assert len({r.json()["execution_id"] for r in responses}) == 1
    assert Execution.objects.filter(idempotency_key="delivery-42").count() == 1


def test_a_trigger_made_again_at_a_remembered_path_takes_the_delivery(client, hook, acme):
    """The path's remembered trigger is gone; its successor, with a concurrency key, answers.
    The remembered row is read without its config, and a refused delivery never loads it:
    the firing takes the config from the settings the delivery read, never from the row."""
    url = "/hooks/p/github/issues"
    refused = deliver(client, hook, url=url, secret="not-the-secret")
    assert refused.status_code == 401 and ("path", "/github/issues") in ingestion._remembered
    signing_secret = hook.webhook_endpoint.signing_secret
    trigger_delete(trigger=hook)
    successor = trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="successor",
        signature_verification={"preset": "github"}, signing_secret=signing_secret,
        webhook_path="/github/issues",
        config={"concurrency": {"key": "payload.issue.title", "limit": 1}},
    )  # fmt: skip

    accepted = deliver(client, successor, url=url)
    again = deliver(client, successor, url=url)  # remembered now: the one statement

    assert accepted.status_code == again.status_code == 202, accepted.content
    keys = Execution.objects.filter(trigger=successor).values_list("concurrency_key", flat=True)
    assert list(keys) == ["Bug", "Bug"]
