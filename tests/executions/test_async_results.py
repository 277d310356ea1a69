"""Asynchronous results: an agent runtime answers 202 {"status": "accepted"} and posts its
signed result (or heartbeats) later to /api/executions/<execution_id>/result (docs/runners.md).

The runtime is a real HTTP server on 127.0.0.1 that verifies the run request and signs what
it posts with the standardwebhooks library; the service is a live server or the test client.
"""

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.runners import ResultDeferred
from executions.runners import http as http_runner
from executions.runners.base import AgentRequest
from executions.services import firing, lifecycle, sweeper

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "async_runtime.py"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjQy"
RESULT = {
    "output": {"summary": "3 tickets"},
    "tokens_used": 1234,
    "tools_executed": [{"name": "search"}],
    "conversation_id": "c-42",
}


def signed(body: bytes, message_id: str, *, secret: str = SECRET, at: datetime | None = None):
    """Standard Webhooks headers for ``body``, as a runtime's library makes them."""
    at = at or datetime.now(tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class AsyncRuntime:
    """An agent runtime that verifies each run request, answers 202 accepted, and — once
    ``release`` is set, when it knows the service's URL — posts its signed ``result`` to it,
    with the run request's own webhook-id."""

    def __init__(self, *, service_url: str | None = None, result: dict | None = None):
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.posted = threading.Event()
        self.post_statuses: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(SECRET).verify(body, headers)
                except Exception:
                    self.send_response(401)
                    self.end_headers()
                    return
                owner.requests.append({"headers": headers, "body": json.loads(body), "raw": body})
                reply = json.dumps({"status": "accepted"}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                self.wfile.flush()
                if service_url is not None:
                    request = owner.requests[-1]
                    threading.Thread(
                        target=owner._post_result, args=(service_url, request), daemon=True
                    ).start()

            def log_message(self, *args):
                pass

        self.result = result if result is not None else RESULT
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/run"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _post_result(self, service_url: str, request: dict) -> None:
        if not self.release.wait(60):
            return
        body = json.dumps(self.result).encode()
        execution_id = request["body"]["execution_id"]
        response = httpx.post(
            f"{service_url}/api/executions/{execution_id}/result",
            content=body,
            headers={
                "content-type": "application/json",
                **signed(body, f"{request['headers']['webhook-id']}.result"),
            },
            timeout=30,
        )
        self.post_statuses.append(response.status_code)
        self.posted.set()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def runtimes(settings):
    """Start async runtimes (the service's http runner points at the last one)."""
    started: list[AsyncRuntime] = []

    def start(**kwargs) -> AsyncRuntime:
        runtime = AsyncRuntime(**kwargs)
        started.append(runtime)
        settings.EXECUTION_RUNNER = "http"
        settings.AGENT_RUNTIME_URL = runtime.url
        settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
        settings.AGENT_RUNTIME_TIMEOUT_SECONDS = 5
        return runtime

    yield start
    for runtime in started:
        runtime.release.set()
        runtime.close()


@pytest.fixture
def awaiting(runtimes, acme, make_trigger):
    """An execution whose runtime accepted attempt 1 and posts nothing by itself: running,
    awaiting its result, with no worker."""

    def make(**trigger_fields) -> Execution:
        runtimes()
        trigger = make_trigger(acme, "cron", **trigger_fields)
        execution = firing.execution_run_now(trigger=trigger).execution
        after = lifecycle.execution_run(execution_id=execution.execution_id)
        assert after is not None and after.status == ExecutionStatus.RUNNING
        return Execution.objects.select_related("trigger").get(pk=execution.pk)

    return make


def post(kind: str, execution: Execution | str, payload=None, *, attempt: int = 1, **signing):
    """POST a signed ``kind`` (result or heartbeat) for ``execution``'s ``attempt`` through
    the test client, as the runtime would."""
    execution_id = str(getattr(execution, "execution_id", execution))
    body = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
    headers = signing.pop("headers", None)
    if headers is None:
        message_id = signing.pop("message_id", f"{execution_id}.{attempt}.{kind}")
        headers = signed(body, message_id, **signing)
    return APIClient().post(
        f"/api/executions/{execution_id}/{kind}",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


# -- the worker's side ------------------------------------------------------------------------


def test_the_http_runner_reads_202_accepted_as_a_deferred_result(runtimes):
    runtime = runtimes()
    request = AgentRequest(
        execution_id=str(uuid.uuid4()), execution_type="manual", trigger={}, agent=None,
        agent_model="", listener_type="", system_message="", task_prompt="hi", input=None,
        scheduled_for=None, attempt=1,
    )  # fmt: skip

    outcome = http_runner.run(request, url=runtime.url, secret=SECRET, timeout=5, guarded=False)

    assert outcome == ResultDeferred()
    assert runtime.requests[0]["headers"]["webhook-id"] == f"{request.execution_id}.1"


def test_an_accepted_attempt_stays_running_and_leaves_the_worker_and_its_place(awaiting):
    execution = awaiting()

    assert execution.status == ExecutionStatus.RUNNING
    assert execution.awaiting_result_since is not None and execution.heartbeat_at is None
    assert execution.dispatched_at is None  # out of the places in flight
    assert execution.completed_at is None and execution.output_data is None
    execution.trigger.refresh_from_db()
    assert execution.trigger.execution_count == 0


# -- results ----------------------------------------------------------------------------------


def test_a_signed_result_completes_the_attempt_and_counts_it(awaiting):
    execution = awaiting()

    response = post("result", execution, RESULT)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "completed"}
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.output_data == {"summary": "3 tickets"}
    assert execution.tokens_used == 1234
    assert execution.tools_executed == [{"name": "search"}]
    assert execution.conversation_id == "c-42"
    assert execution.completed_at is not None and execution.error_message == ""
    execution.trigger.refresh_from_db()
    assert execution.trigger.execution_count == 1
    assert execution.trigger.last_execution_status == ExecutionStatus.COMPLETED


def test_a_result_completes_a_single_execution_trigger(awaiting):
    execution = awaiting(is_single_execution=True)

    assert post("result", execution, RESULT).status_code == 200

    execution.trigger.refresh_from_db()
    assert execution.trigger.status == "completed"


def test_a_result_without_output_stores_the_whole_object(awaiting):
    execution = awaiting()

    assert post("result", execution, {"answer": 42}).status_code == 200

    execution.refresh_from_db()
    assert (execution.status, execution.output_data) == ("completed", {"answer": 42})


def test_an_error_fails_the_attempt_and_it_is_retried(awaiting):
    execution = awaiting(max_retries=1)

    response = post("result", execution, {"error": "The model refused."})

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "pending"}
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING and execution.retry_count == 1
    assert execution.error_message == "The model refused."
    assert execution.available_at > timezone.now()  # after the retry's backoff
    assert execution.awaiting_result_since is None and execution.started_at is None


def test_an_error_with_no_retries_left_fails_the_execution(awaiting):
    execution = awaiting(max_retries=0)

    response = post("result", execution, {"error": "The model refused."})

    assert response.json() == {"status": "failed"}
    execution.refresh_from_db()
    assert (execution.status, execution.error_message) == ("failed", "The model refused.")
    execution.trigger.refresh_from_db()
    assert execution.trigger.error_count == 1 and execution.trigger.consecutive_failures == 1


def test_an_unstorable_answer_fails_the_execution_at_once(awaiting):
    execution = awaiting(max_retries=3)

    response = post("result", execution, b'{"output": {"text": "a\\u0000b"}}')

    problem = _problem(response, 422, "unstorable_result")
    assert "NUL" in problem["detail"]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED and execution.retry_count == 0
    assert execution.error_message.startswith("The agent's answer cannot be stored")


def test_a_body_larger_than_the_limit_is_refused_unread(awaiting, settings):
    execution = awaiting()
    settings.EXECUTION_OUTPUT_MAX_BYTES = 1024

    response = post("result", execution, {"output": "x" * 2000})

    _problem(response, 413, "payload_too_large")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def _second_result(execution):
    assert post("result", execution, RESULT).status_code == 200


def _cancelled(execution):
    lifecycle.execution_cancel(execution=execution)


def _failed(execution):
    assert post("result", execution, {"error": "boom"}).json() == {"status": "failed"}


@pytest.mark.parametrize(
    ("before", "status"),
    [
        (_second_result, ExecutionStatus.COMPLETED),
        (_cancelled, ExecutionStatus.CANCELLED),
        (_failed, ExecutionStatus.FAILED),
    ],
)
def test_a_result_for_an_attempt_that_awaits_none_is_a_409(awaiting, before, status):
    execution = awaiting(max_retries=0)
    before(execution)
    stored = Execution.objects.values().get(pk=execution.pk)

    response = post("result", execution, {"output": "late"})

    problem = _problem(response, 409, "not_awaiting_result")
    assert status in problem["detail"]
    assert Execution.objects.values().get(pk=execution.pk) == stored


def test_a_result_for_an_attempt_that_was_retried_is_a_409(awaiting):
    execution = awaiting(max_retries=1)
    assert post("result", execution, {"error": "boom"}).json() == {"status": "pending"}

    response = post("result", execution, RESULT, attempt=1)

    problem = _problem(response, 409, "attempt_over")
    assert "attempt 2" in problem["detail"]
    execution.refresh_from_db()
    assert (execution.status, execution.output_data) == ("pending", None)


def test_a_result_for_a_wrong_attempt_is_a_409(awaiting):
    execution = awaiting()

    response = post("result", execution, RESULT, attempt=2)

    _problem(response, 409, "attempt_over")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.output_data is None


@pytest.mark.parametrize(
    "signing",
    [
        {"headers": {}},  # unsigned
        {"secret": OTHER_SECRET},  # wrong secret
        {"at": datetime.now(tz=UTC) - timedelta(minutes=10)},  # stale timestamp
    ],
    ids=["unsigned", "wrong-secret", "stale"],
)
def test_a_result_that_does_not_verify_is_a_401(awaiting, signing):
    execution = awaiting()

    response = post("result", execution, RESULT, **signing)

    _problem(response, 401, "invalid_signature")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.output_data is None


@pytest.mark.parametrize("signed_by", [SECRET, OTHER_SECRET], ids=["new", "old"])
def test_while_the_secret_is_rotated_a_result_signed_with_either_is_taken(
    awaiting, settings, signed_by
):
    execution = awaiting()
    settings.AGENT_RUNTIME_SIGNING_SECRET = f"{SECRET} {OTHER_SECRET}"

    response = post("result", execution, RESULT, secret=signed_by)

    assert response.status_code == 200, response.content
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED


def test_once_the_old_secret_is_dropped_a_result_signed_with_it_is_a_401(awaiting, settings):
    execution = awaiting()
    settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET

    _problem(post("result", execution, RESULT, secret=OTHER_SECRET), 401, "invalid_signature")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_a_result_whose_body_was_changed_is_a_401(awaiting):
    execution = awaiting()
    body = json.dumps(RESULT).encode()
    headers = signed(body, f"{execution.execution_id}.1.result")

    response = post("result", execution, body.replace(b"1234", b"9999"), headers=headers)

    _problem(response, 401, "invalid_signature")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_an_unknown_execution_is_a_404_only_to_a_signed_post(db, settings):
    settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
    unknown = str(uuid.uuid4())

    _problem(post("result", unknown, RESULT), 404, "not_found")
    _problem(post("result", unknown, RESULT, headers={}), 401, "invalid_signature")
    _problem(post("result", "not-a-uuid", RESULT, headers={}), 401, "invalid_signature")
    assert not Execution.objects.exists()


def test_a_message_id_of_another_execution_is_a_400(awaiting):
    execution = awaiting()

    response = post("result", execution, RESULT, message_id=f"{uuid.uuid4()}.1.result")

    _problem(response, 400, "invalid_message_id")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


@pytest.mark.parametrize("suffix", ["", ".heartbeat"])
def test_a_message_id_not_of_a_result_is_a_400(awaiting, suffix):
    execution = awaiting()

    response = post("result", execution, RESULT, message_id=f"{execution.execution_id}.1{suffix}")

    _problem(response, 400, "invalid_message_id")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING


def test_the_run_request_posted_back_as_a_result_is_refused(runtimes, acme, make_trigger):
    """The service signed it with the same secret: its webhook-id, with no suffix, keeps it
    from passing for the runtime's result."""
    runtime = runtimes()
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))
    lifecycle.execution_run(execution_id=execution.execution_id)
    run_request = runtime.requests[0]
    headers = {
        name: run_request["headers"][name]
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }

    response = post("result", execution, run_request["raw"], headers=headers)

    _problem(response, 400, "invalid_message_id")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.output_data is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"not json", "JSON"),
        (b"[1, 2]", "JSON object"),
        ({"output": {}, "tokens_used": "12"}, "tokens_used"),
        ({"output": {}, "tools_executed": {"name": "x"}}, "tools_executed"),
        ({"output": {}, "conversation_id": 7}, "conversation_id"),
        ({"error": {"message": "x"}}, "error"),
    ],
)
def test_a_malformed_result_is_a_400_and_changes_nothing(awaiting, payload, field):
    execution = awaiting()

    response = post("result", execution, payload)

    problem = _problem(response, 400, "invalid_result")
    assert field in problem["detail"]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.output_data is None


def test_a_result_that_comes_before_the_worker_records_the_deferral_wins(
    acme, make_trigger, settings
):
    settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))
    started = lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w1")

    assert post("result", started, RESULT).status_code == 200
    assert lifecycle.execution_await_result(execution=started) is None

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.awaiting_result_since is None


def test_cancelling_an_awaiting_execution_through_the_api(awaiting, alice_client):
    execution = awaiting()

    response = alice_client.post(f"/api/executions/{execution.pk}/cancel")

    assert response.status_code == 200 and response.json()["status"] == 4
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    _problem(post("result", execution, RESULT), 409, "not_awaiting_result")


# -- heartbeats and the timeout ---------------------------------------------------------------


def test_a_heartbeat_pushes_the_timeout_forward(awaiting, settings):
    settings.EXECUTION_TIMEOUT_SECONDS = 600
    execution = awaiting(max_retries=1)
    long_ago = timezone.now() - timedelta(hours=3)
    Execution.objects.filter(pk=execution.pk).update(started_at=long_ago)

    response = post("heartbeat", execution)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "running", "timeout_seconds": 600}
    execution.refresh_from_db()
    beat = execution.heartbeat_at
    assert beat is not None and beat > long_ago
    # Within the timeout of the heartbeat: not taken back, though it started long before.
    report = sweeper.executions_sweep(now=beat + timedelta(seconds=599))
    assert report.timed_out == 0
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    # Past it: taken back and retried like any lost run.
    report = sweeper.executions_sweep(now=beat + timedelta(seconds=601))
    assert report.timed_out == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING and execution.retry_count == 1
    assert "heartbeat" in execution.error_message
    assert execution.heartbeat_at is None and execution.awaiting_result_since is None


def test_without_a_heartbeat_the_timeout_counts_from_the_start(awaiting, settings):
    settings.EXECUTION_TIMEOUT_SECONDS = 600
    execution = awaiting(max_retries=0)

    report = sweeper.executions_sweep(now=execution.started_at + timedelta(seconds=601))

    assert report.timed_out == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_message == (
        "No result or heartbeat from the agent runtime within 600 s."
    )


def test_a_heartbeat_for_an_attempt_that_is_over_is_a_409(awaiting):
    execution = awaiting()
    lifecycle.execution_cancel(execution=execution)

    _problem(post("heartbeat", execution), 409, "not_awaiting_result")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED and execution.heartbeat_at is None


def test_an_unsigned_heartbeat_is_a_401(awaiting):
    execution = awaiting()

    _problem(post("heartbeat", execution, headers={}), 401, "invalid_signature")
    execution.refresh_from_db()
    assert execution.heartbeat_at is None


# -- end to end: the runtime posts its result to a live service -------------------------------


def test_the_runtime_posts_its_result_to_the_live_service(
    runtimes, live_server, acme, make_trigger, wait_for
):
    runtime = runtimes(service_url=live_server.url)
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))

    after = lifecycle.execution_run(execution_id=execution.execution_id)

    assert after.status == ExecutionStatus.RUNNING  # the worker's part is over
    runtime.release.set()
    assert runtime.posted.wait(30), "the runtime never posted its result"
    assert runtime.post_statuses == [200]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.output_data == {"summary": "3 tickets"}


def test_an_async_run_on_a_real_worker(
    start_worker, live_server, acme, make_trigger, wait_for, settings
):
    runtime = AsyncRuntime(service_url=live_server.url)
    # This process dispatches (an agent run) and serves the result: the same settings.
    settings.EXECUTION_RUNNER = "http"
    settings.AGENT_RUNTIME_URL = runtime.url
    settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
    try:
        start_worker(
            AGENT_RUNTIME_URL=runtime.url,
            AGENT_RUNTIME_SIGNING_SECRET=SECRET,
            CONCURRENCY="1",
        )
        execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))

        # The worker is done with it: running, awaiting its result, out of flight.
        wait_for(
            lambda: Execution.objects.filter(
                pk=execution.pk, status="running", awaiting_result_since__isnull=False
            ).exists(),
            timeout=30,
            message="the worker did not leave the execution awaiting its result",
        )
        execution.refresh_from_db()
        assert execution.dispatched_at is None and execution.worker_id
        runtime.release.set()
        assert runtime.posted.wait(30), "the runtime never posted its result"
        assert runtime.post_statuses == [200]
    finally:
        runtime.release.set()
        runtime.close()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.output_data == {"summary": "3 tickets"}
    execution.trigger.refresh_from_db()
    assert execution.trigger.execution_count == 1


def test_the_documented_example_runtime_heartbeats_and_posts_its_result(
    live_server, acme, make_trigger, settings, wait_for
):
    example = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0", "--delay", "5", "--heartbeat", "0.5"],
        env={**os.environ, "AGENT_RUNTIME_SIGNING_SECRET": SECRET,
             "PUBLIC_BASE_URL": live_server.url},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        url = example.stdout.readline().split()[-1]  # "listening on http://…/run"
        settings.EXECUTION_RUNNER, settings.AGENT_RUNTIME_URL = "http", url
        settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
        execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))

        after = lifecycle.execution_run(execution_id=execution.execution_id)

        assert after.status == ExecutionStatus.RUNNING
        wait_for(
            lambda: Execution.objects.filter(pk=execution.pk, status="completed").exists(),
            timeout=30,
            message="the example runtime's result never completed the execution",
        )
    finally:
        example.kill()
        example.wait(timeout=10)
    execution.refresh_from_db()
    assert execution.output_data == {"echo": ""}
    assert execution.conversation_id == f"example-{execution.execution_id}"
    assert execution.heartbeat_at is not None  # it beat while it worked
