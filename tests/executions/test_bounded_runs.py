"""An execution's work and what it stores are bounded (issue 19, findings 1 and 7): a task
prompt that would render larger than RENDERED_TEXT_MAX_BYTES, an agent's answer larger than
EXECUTION_OUTPUT_MAX_BYTES or one PostgreSQL cannot store fail the execution at once with the
reason; a database that refuses the result fails it after a bounded number of tries — never
left running for the sweeper to retry into the same error."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import DataError, OperationalError

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.runners import AgentResult
from executions.services import claims, firing, lifecycle
from triggers.models import Trigger

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def agent_answering(settings):
    """An agent runtime on 127.0.0.1 whose every answer is ``body`` (bytes)."""
    servers = []

    def start(body: bytes):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        settings.EXECUTION_RUNNER = "http"
        settings.AGENT_RUNTIME_URL = f"http://127.0.0.1:{server.server_port}/run"
        settings.AGENT_RUNTIME_SIGNING_SECRET = SECRET

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def hook(acme, make_trigger):
    return make_trigger(acme, "webhook", max_retries=3, task_prompt="Handle {{ input.payload }}")


def fire(trigger, payload) -> Execution:
    return firing.execution_fire(
        trigger=trigger, execution_type=ExecutionType.WEBHOOK,
        input_data={"message": None, "payload": payload},
    ).execution  # fmt: skip


def run(execution) -> Execution:
    return lifecycle.execution_run(execution_id=execution.execution_id)


def test_a_prompt_rendered_too_large_fails_at_once_with_the_reason(hook, settings):
    settings.RENDERED_TEXT_MAX_BYTES = 64 * 1024
    Trigger.objects.filter(pk=hook.pk).update(task_prompt="{{ input }}\n" * 50)

    finished = run(fire(hook, {"text": "x" * 10_000}))  # 50 x 10 KB: 500 KB of prompt

    assert finished.status == ExecutionStatus.FAILED
    assert finished.retry_count == 0  # no retry: the same input fails the same way
    assert "larger than 65536 bytes" in finished.error_message
    assert "RENDERED_TEXT_MAX_BYTES" in finished.error_message


def test_a_prompt_within_the_limit_runs(hook):
    finished = run(fire(hook, {"text": "small"}))

    assert finished.status == ExecutionStatus.COMPLETED, finished.error_message
    assert finished.output_data["request"]["task_prompt"] == 'Handle {"text":"small"}'


def test_an_answer_larger_than_the_limit_fails_at_once(hook, agent_answering, settings):
    settings.EXECUTION_OUTPUT_MAX_BYTES = 4096
    agent_answering(json.dumps({"output": "y" * 100_000}).encode())

    finished = run(fire(hook, {}))

    assert finished.status == ExecutionStatus.FAILED and finished.retry_count == 0
    assert "larger than 4096 bytes" in finished.error_message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (b'{"output": {"a": "\\u0000"}}', ["NUL", "/a"]),
        (b'{"output": ["\\ud800"]}', ["surrogate"]),
        (b'{"output": 1e999}', ["not finite"]),
        (b'{"output": ' + b"[" * 500 + b"]" * 500 + b"}", ["deeper"]),
    ],
)
def test_an_answer_postgresql_cannot_store_fails_with_the_reason(
    hook, agent_answering, answer, words
):
    agent_answering(answer)

    finished = run(fire(hook, {}))

    assert finished.status == ExecutionStatus.FAILED and finished.retry_count == 0
    assert finished.error_message.startswith("The agent's answer cannot be stored")
    assert all(word in finished.error_message for word in words)


def test_an_error_message_quoting_a_nul_is_stored(hook, agent_answering, settings):
    settings.EXECUTION_OUTPUT_MAX_BYTES = 1024 * 1024
    agent_answering(b"not json \x00 at all")

    finished = run(fire(hook, {}))

    assert finished.status == ExecutionStatus.PENDING and finished.retry_count == 1
    assert "not json \ufffd at all" in finished.error_message


def test_a_token_count_postgresql_cannot_hold_is_unknown(hook, agent_answering):
    agent_answering(json.dumps({"output": "ok", "tokens_used": 10**12}).encode())

    finished = run(fire(hook, {}))

    assert finished.status == ExecutionStatus.COMPLETED and finished.tokens_used is None


def fail_storing(monkeypatch, error, times):
    """Storing results together raises ``error``, and so does execution_complete (the one
    by one store that follows) the first ``times`` calls; its calls are counted."""
    real, calls = lifecycle.execution_complete, []

    def complete_many(completions):
        raise error

    monkeypatch.setattr(claims, "complete_many", complete_many)

    def complete(**kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(lifecycle, "execution_complete", complete)
    monkeypatch.setattr(lifecycle, "STORE_RESULT_PAUSE_SECONDS", 0)
    return calls


def test_a_result_the_database_refuses_fails_the_execution_at_once(hook, monkeypatch):
    calls = fail_storing(monkeypatch, DataError("string too long to represent as jsonb"), 99)

    finished = run(fire(hook, {}))

    assert len(calls) == 1
    assert finished.status == ExecutionStatus.FAILED and finished.retry_count == 0
    assert "could not be stored: DataError: string too long" in finished.error_message
    assert Execution.objects.get(pk=finished.pk).status == ExecutionStatus.FAILED


@pytest.mark.django_db(transaction=True)  # a lost connection is dropped: no test transaction
def test_a_lost_connection_while_storing_is_tried_again_then_fails(hook, monkeypatch):
    calls = fail_storing(monkeypatch, OperationalError("server closed the connection"), 99)

    finished = run(fire(hook, {}))

    assert len(calls) == lifecycle.STORE_RESULT_TRIES
    assert finished.status == ExecutionStatus.FAILED
    assert "OperationalError: server closed the connection" in finished.error_message


@pytest.mark.django_db(transaction=True)
def test_a_store_that_succeeds_on_a_later_try_completes(hook, monkeypatch):
    calls = fail_storing(monkeypatch, OperationalError("blip"), 1)

    finished = run(fire(hook, {}))

    assert len(calls) == 2 and finished.status == ExecutionStatus.COMPLETED


def test_the_runner_checks_every_result_it_returns(hook, monkeypatch, settings):
    settings.EXECUTION_OUTPUT_MAX_BYTES = 2048
    monkeypatch.setattr(
        "executions.runners.registry.dry_run.run",
        lambda request: AgentResult(output_data={"big": "z" * 5000}),
    )

    finished = run(fire(hook, {}))

    assert finished.status == ExecutionStatus.FAILED
    assert "larger than 2048" in finished.error_message
