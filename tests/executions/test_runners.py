"""Runners against real HTTP servers on 127.0.0.1: a fake agent runtime that verifies
Standard Webhooks signatures with the standardwebhooks library, and a small
OpenAI-compatible chat-completions server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from executions.choices import ExecutionStatus
from executions.runners import AttemptAbandoned, RunnerError, run_agent, runner_name_for
from executions.runners.outbound import OutboundURLRefused, resolve_public_address
from executions.services import firing, lifecycle

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class FakeServer:
    """A real HTTP server in a thread; ``reply(handler_state) -> (status, body)`` answers."""

    def __init__(self, reply):
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status, payload = reply(owner)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def fake_server():
    servers = []

    def start(reply):
        server = FakeServer(reply)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def agent_runtime(owner):
    """Verifies the signature like a real receiver would, then answers like an agent."""
    last = owner.requests[-1]
    try:
        Webhook(SECRET).verify(last["body"], last["headers"])
    except Exception as error:
        return 401, {"error": f"bad signature: {error}"}
    request = json.loads(last["body"])
    return 200, {
        "output": {"echo": request["task_prompt"]},
        "tokens_used": 321,
        "tools_executed": [{"name": "search", "ok": True}],
        "conversation_id": "conv-1",
    }


@pytest.fixture
def http_runtime(fake_server, settings):
    server = fake_server(agent_runtime)
    settings.EXECUTION_RUNNER = "http"
    settings.AGENT_RUNTIME_URL = f"{server.url}/run"
    settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET
    settings.AGENT_RUNTIME_TIMEOUT_SECONDS = 2
    return server


@pytest.fixture
def manual_execution(acme, acme_agent, make_trigger):
    def make(**trigger_fields):
        trigger_fields.setdefault("task_prompt", "Triage {{ trigger.name }}")
        trigger = make_trigger(acme, "cron", agent=acme_agent, **trigger_fields)
        return firing.execution_create_test(trigger=trigger)

    return make


def test_http_runner_posts_a_signed_request_and_fills_the_result(http_runtime, manual_execution):
    execution = manual_execution(system_message="Be brief", agent_model="gpt-x")

    finished = lifecycle.execution_run(execution_id=execution.execution_id)

    assert finished.status == ExecutionStatus.COMPLETED, finished.error_message
    assert finished.output_data == {"echo": "Triage cron trigger"}
    assert finished.tokens_used == 321
    assert finished.tools_executed == [{"name": "search", "ok": True}]
    assert finished.conversation_id == "conv-1"
    sent = json.loads(http_runtime.requests[0]["body"])
    assert sent["system_message"] == "Be brief" and sent["agent_model"] == "gpt-x"
    assert sent["agent"] == {"id": "triage", "name": "Triage"}
    assert http_runtime.requests[0]["headers"]["webhook-id"] == f"{execution.execution_id}.1"


OLD_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjQy"


@pytest.mark.parametrize("runtime_secret", [SECRET, OLD_SECRET], ids=["new", "old"])
def test_while_the_secret_is_rotated_a_runtime_with_either_one_verifies_the_request(
    fake_server, settings, manual_execution, runtime_secret
):
    def runtime(owner):
        last = owner.requests[-1]
        Webhook(runtime_secret).verify(last["body"], last["headers"])  # raises: a 500
        return 200, {"output": {"verified": True}}

    server = fake_server(runtime)
    settings.EXECUTION_RUNNER, settings.AGENT_RUNTIME_URL = "http", server.url
    settings.AGENT_RUNTIME_SIGNING_SECRET = f"{SECRET} {OLD_SECRET}"
    execution = manual_execution()

    finished = lifecycle.execution_run(execution_id=execution.execution_id)

    assert finished.status == ExecutionStatus.COMPLETED, finished.error_message
    assert finished.output_data == {"verified": True}
    assert len(server.requests[0]["headers"]["webhook-signature"].split()) == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda owner: (503, {"error": "overloaded"}), "answered 503"),
        (lambda owner: (200, b"not json"), "not a JSON object"),
        (lambda owner: (200, [1, 2]), "not a JSON object"),
    ],
)
def test_http_runner_fails_the_attempt_on_a_bad_answer(
    fake_server, settings, manual_execution, reply, message
):
    server = fake_server(reply)
    settings.AGENT_RUNTIME_URL, settings.AGENT_RUNTIME_SIGNING_SECRET = server.url, SECRET
    settings.EXECUTION_RUNNER = "http"
    execution = manual_execution(max_retries=1)

    retried = lifecycle.execution_run(execution_id=execution.execution_id)

    assert retried.status == ExecutionStatus.PENDING and retried.retry_count == 1
    assert message in retried.error_message


def test_http_runner_times_out(fake_server, settings, manual_execution):
    def slow(owner):
        threading.Event().wait(3)
        return 200, {}

    settings.AGENT_RUNTIME_URL, settings.AGENT_RUNTIME_SIGNING_SECRET = (
        fake_server(slow).url,
        SECRET,
    )
    settings.EXECUTION_RUNNER, settings.AGENT_RUNTIME_TIMEOUT_SECONDS = "http", 1
    execution = manual_execution(max_retries=0)

    failed = lifecycle.execution_run(execution_id=execution.execution_id)

    assert failed.status == ExecutionStatus.FAILED
    assert failed.error_message == "The agent runtime did not answer within 1 s."


class HoldingServer:
    """An agent runtime (or model provider) that never answers: it holds each request until
    the client closes the connection, which it records, or until 30 s have passed."""

    def __init__(self):
        self.arrived = threading.Event()
        self.client_gone = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                owner.arrived.set()
                self.connection.settimeout(30)
                try:
                    gone = self.connection.recv(1) == b""  # EOF: the client closed
                except TimeoutError:
                    gone = False
                except OSError:  # reset by the client
                    gone = True
                if gone:
                    owner.client_gone.set()
                    return
                self.send_response(504)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def holding_server():
    server = HoldingServer()
    yield server
    server.server.shutdown()


@pytest.mark.parametrize("runner", ["http", "openai"])
def test_an_abandoned_attempt_interrupts_the_request_and_the_server_sees_it(
    runner, holding_server, settings, manual_execution
):
    settings.EXECUTION_RUNNER, settings.AGENT_RUNTIME_TIMEOUT_SECONDS = runner, 60
    settings.AGENT_RUNTIME_URL, settings.AGENT_RUNTIME_SIGNING_SECRET = holding_server.url, SECRET
    settings.OPENAI_BASE_URL, settings.OPENAI_DEFAULT_MODEL = holding_server.url, "m"
    execution = manual_execution()

    # Abandoned as soon as the request has reached the server, as after a cancel.
    with pytest.raises(AttemptAbandoned):
        run_agent(execution, abandoned=holding_server.arrived.is_set)

    assert holding_server.client_gone.wait(10), "the connection was not closed"


def test_an_attempt_still_wanted_waits_for_its_answer(fake_server, settings, manual_execution):
    def slowly(owner):
        threading.Event().wait(2.5)  # a few checks of `abandoned` pass meanwhile
        return 200, {"output": "late but wanted"}

    settings.EXECUTION_RUNNER, settings.AGENT_RUNTIME_SIGNING_SECRET = "http", SECRET
    settings.AGENT_RUNTIME_URL = fake_server(slowly).url
    checks = []

    result = run_agent(manual_execution(), abandoned=lambda: checks.append(1) or False)

    assert result.output_data == "late but wanted"
    assert len(checks) >= 2


def openai_server(owner):
    request = json.loads(owner.requests[-1]["body"])
    if owner.requests[-1]["headers"].get("authorization") != "Bearer sk-test":
        return 401, {"error": {"message": "Incorrect API key provided", "type": "auth"}}
    if request["model"] == "missing-model":
        return 404, {"error": {"message": "The model `missing-model` does not exist"}}
    return 200, {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"saw {len(request['messages'])}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


@pytest.fixture
def openai_provider(fake_server, settings):
    server = fake_server(openai_server)
    settings.EXECUTION_RUNNER = "openai"
    settings.OPENAI_BASE_URL = f"{server.url}/v1"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_DEFAULT_MODEL = "default-model"
    return server


def test_openai_runner_calls_chat_completions_and_records_usage(openai_provider, manual_execution):
    execution = manual_execution(system_message="You triage.")

    finished = lifecycle.execution_run(execution_id=execution.execution_id)

    assert finished.status == ExecutionStatus.COMPLETED, finished.error_message
    assert finished.output_data == {
        "content": "saw 2",
        "finish_reason": "stop",
        "model": "default-model",
    }
    assert finished.tokens_used == 14
    sent = json.loads(openai_provider.requests[0]["body"])
    assert openai_provider.requests[0]["path"] == "/v1/chat/completions"
    assert sent["messages"][0] == {"role": "system", "content": "You triage."}
    assert sent["messages"][1]["content"].startswith("Triage cron trigger\n\nInput:\n")


def test_openai_runner_surfaces_the_providers_error(openai_provider, manual_execution):
    execution = manual_execution(agent_model="missing-model", max_retries=0)

    failed = lifecycle.execution_run(execution_id=execution.execution_id)

    assert failed.status == ExecutionStatus.FAILED
    assert failed.error_message == (
        "The model provider answered 404: The model `missing-model` does not exist"
    )


def test_an_agent_chooses_its_own_runner(openai_provider, manual_execution, acme_agent, settings):
    settings.EXECUTION_RUNNER = "dry_run"
    execution = manual_execution()
    assert runner_name_for(execution) == "dry_run"

    acme_agent.runner = "openai"
    acme_agent.save()
    execution.refresh_from_db()

    assert runner_name_for(execution) == "openai"
    assert run_agent(execution).tokens_used == 14


def test_an_agents_own_runtime_url_may_not_point_at_private_addresses(
    http_runtime, manual_execution, acme_agent, settings
):
    acme_agent.runner, acme_agent.runtime_url = "http", f"{http_runtime.url}/own"
    acme_agent.save()
    execution = manual_execution()

    with pytest.raises(RunnerError, match="private or reserved address"):
        run_agent(execution)
    assert http_runtime.requests == []

    settings.ALLOW_PRIVATE_OUTBOUND = True
    assert run_agent(execution).tokens_used == 321
    assert http_runtime.requests[0]["path"] == "/own"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://192.168.0.10/x",
        "http://localhost:8000/x",
        "ftp://example.com/x",
    ],
)
def test_the_outbound_guard_refuses_private_and_odd_urls(url, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    with pytest.raises(OutboundURLRefused):
        resolve_public_address(url)


def test_the_outbound_guard_passes_a_public_address(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    assert resolve_public_address("http://93.184.215.14/run") == "93.184.215.14"
