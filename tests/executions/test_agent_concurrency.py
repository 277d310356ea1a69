"""The agent worker as bin/run starts it — one Celery process, a pool of threads, a small
database pool — with a hundred agent calls in flight at once, against real HTTP servers on
127.0.0.1 that hold every call until the test lets it go.

Shown: a hundred ``http`` calls and a hundred ``openai`` calls in flight together on one
process holding at most its pool's database connections; a cancel interrupts its own call
only (the runtime sees that client go) while the other 99 complete; a worker SIGKILLed with 50
calls in flight loses none: the sweeper takes each back once, a new worker retries it once,
and each completes exactly once.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import Agent
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.services import firing, lifecycle, sweeper

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
POOL_SIZE = 10
# The most client connections to the test database while calls are in flight: the agent
# worker's pool, the test process's own, and one backend that may still be listed while it
# exits. (Without the pool, the same run peaked at 23.)
CONNECTIONS_BOUND = POOL_SIZE + 2
MODEL = "gpt-concurrency"

pytestmark = pytest.mark.slow


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a hundred connections arrive at once


class HoldingRuntime:
    """An agent runtime (or a model provider) on 127.0.0.1 that holds each call whose key
    ``holds(key)`` until ``release`` is set, watching meanwhile for its client to go.

    The key of a call is ``key_of(path, headers, body)`` (the webhook-id for the http
    runner). It records every call it got (``seen``), those in flight now and the most
    ever in flight at once, the calls whose client went away while held (``gone``), and
    those it answered (``answered``: the response was written in full).
    """

    def __init__(self, *, key_of, answer, holds=lambda key: True, verify: bool = False):
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.in_flight: set[str] = set()
        self.most_in_flight = 0
        self.gone: set[str] = set()
        self.answered: Counter[str] = Counter()
        self.refused: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if verify:
                    try:
                        Webhook(SECRET).verify(body, headers)
                    except Exception as error:
                        owner.refused.append(str(error))
                        self.send_error(401)
                        return
                key = key_of(self.path, headers, body)
                with owner.lock:
                    owner.seen[key] += 1
                    owner.in_flight.add(key)
                    owner.most_in_flight = max(owner.most_in_flight, len(owner.in_flight))
                try:
                    if holds(key) and not owner._held_until_released(self.connection):
                        with owner.lock:
                            owner.gone.add(key)
                        return
                    raw = json.dumps(answer(key, json.loads(body))).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                    self.wfile.flush()
                    with owner.lock:
                        owner.answered[key] += 1
                finally:
                    with owner.lock:
                        owner.in_flight.discard(key)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _held_until_released(self, client: socket.socket) -> bool:
        """Wait for ``release``; False as soon as the client closes its connection (it
        sends nothing more on its own: readable means EOF or a reset)."""
        while not self.release.wait(0.1):
            readable, _, _ = select.select([client], [], [], 0)
            if readable:
                try:
                    if client.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return True

    def held(self) -> int:
        with self.lock:
            return len(self.in_flight)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def runtimes():
    started: list[HoldingRuntime] = []

    def start(**options) -> HoldingRuntime:
        runtime = HoldingRuntime(**options)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.close()


def _webhook_id(path, headers, body) -> str:
    return headers["webhook-id"]


def _agent_answer(key, request) -> dict:
    return {"output": {"handled": key, "n": request["input"]["n"]}, "tokens_used": 5}


class ConnectionSampler:
    """Counts, every 50 ms on a connection of its own, the client connections to the test
    database (its own left out); ``most`` is the highest count seen."""

    def __init__(self):
        db = connection.settings_dict
        self._conn = psycopg.connect(
            dbname=db["NAME"], user=db["USER"] or "postgres", host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432, password=db["PASSWORD"] or None, autocommit=True,
        )  # fmt: skip
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            count = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            self.most = max(self.most, count)
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()
        return self.most


@pytest.fixture
def sampler(transactional_db):
    samplers: list[ConnectionSampler] = []

    def start() -> ConnectionSampler:
        samplers.append(ConnectionSampler())
        return samplers[-1]

    yield start
    for started in samplers:
        started.stop()


@pytest.fixture
def agent_trigger(acme, acme_agent, make_trigger, settings):
    """An active trigger of acme's agent, whose runner is ``runner``; firings are dispatched
    at once, in the firing thread (no publisher thread in the test process)."""
    settings.EXECUTION_PUBLISH_BATCH_MS = 0

    def make(runner: str, **fields):
        Agent.objects.filter(pk=acme_agent.pk).update(runner=runner)
        acme_agent.refresh_from_db()
        return make_trigger(acme, "cron", agent=acme_agent, task_prompt="Handle it", **fields)

    return make


def fire(trigger, count: int) -> list[Execution]:
    """``count`` manual firings (input ``{"n": i}``), dispatched once all are stored."""
    with transaction.atomic():
        fired = [
            firing.execution_fire(
                trigger=trigger, execution_type=ExecutionType.MANUAL, input_data={"n": n}
            ).execution
            for n in range(count)
        ]
    return fired


def agent_worker(start_engine, **env: str):
    """The agent worker as bin/run starts it, smaller: threads, its queue only, a pool."""
    return start_engine(
        "worker",
        POOL="threads",
        CONCURRENCY="200",
        QUEUES=django_settings.CELERY_AGENT_QUEUE,
        DATABASE_POOL_MAX_SIZE=str(POOL_SIZE),
        **env,
    )


def assert_clean(worker) -> None:
    """Nothing went wrong on the worker's side (a pool timeout, a crashed runner)."""
    log = worker.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def _statuses() -> Counter:
    return Counter(Execution.objects.values_list("status", flat=True))


@pytest.mark.postgresql_only  # counts connections in pg_stat_activity
def test_a_hundred_http_calls_in_flight_on_one_worker_and_a_cancel_interrupts_one(
    start_engine, runtimes, sampler, wait_for, agent_trigger, alice
):
    runtime = runtimes(key_of=_webhook_id, answer=_agent_answer, verify=True)
    worker = agent_worker(
        start_engine,
        AGENT_RUNTIME_URL=f"{runtime.url}/run",
        AGENT_RUNTIME_SIGNING_SECRET=SECRET,
        AGENT_RUNTIME_TIMEOUT_SECONDS="120",
    )
    connections = sampler()
    executions = fire(agent_trigger("http", max_retries=3), 100)
    keys = {f"{e.execution_id}.1": e for e in executions}

    wait_for(lambda: runtime.held() == 100, timeout=60, message="100 calls never in flight")
    assert runtime.most_in_flight == 100
    assert _statuses() == {ExecutionStatus.RUNNING: 100}
    wait_for(lambda: connections.most > 0, timeout=5)
    # A hundred calls wait on their agent; the worker holds at most its pool.
    assert connections.most <= CONNECTIONS_BOUND, connections.most

    doomed = executions[37]
    lifecycle.execution_cancel(execution=doomed, cancelled_by=alice)

    doomed_key = f"{doomed.execution_id}.1"
    wait_for(lambda: doomed_key in runtime.gone, timeout=10, message="the call was not dropped")
    assert runtime.gone == {doomed_key}
    assert runtime.held() == 99  # the other calls go on
    wait_for(lambda: "attempt interrupted" in worker.log(), timeout=10, message=worker.log())

    runtime.release.set()
    wait_for(
        lambda: _statuses()[ExecutionStatus.COMPLETED] == 99,
        timeout=60,
        message="the 99 others did not complete",
    )
    assert _statuses() == {ExecutionStatus.COMPLETED: 99, ExecutionStatus.CANCELLED: 1}
    assert connections.stop() <= CONNECTIONS_BOUND
    doomed.refresh_from_db()
    assert (doomed.status, doomed.error_message) == ("cancelled", "Cancelled by alice.")
    assert doomed.output_data is None
    # Each call made exactly once, signed, and answered once but for the cancelled one.
    assert runtime.refused == []
    assert runtime.seen == Counter(list(keys))
    assert runtime.answered == Counter(set(keys) - {doomed_key})
    for execution in Execution.objects.filter(status=ExecutionStatus.COMPLETED):
        key = f"{execution.execution_id}.1"
        assert execution.output_data == {"handled": key, "n": keys[key].input_data["n"]}
        assert (execution.tokens_used, execution.retry_count) == (5, 0)
    assert_clean(worker)


def _chat_key(path, headers, body) -> str:
    """The firing's ``n``, from the user message (the task prompt, then the input)."""
    assert path == "/v1/chat/completions", path
    assert headers.get("authorization") == "Bearer sk-test"
    user = json.loads(body)["messages"][-1]["content"]
    return str(json.loads(user.split("Input:\n", 1)[1])["n"])


def _chat_answer(key, request) -> dict:
    return {
        "id": f"chatcmpl-{key}",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"answer {key}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


@pytest.mark.postgresql_only  # counts connections in pg_stat_activity
def test_a_hundred_openai_calls_in_flight_on_one_worker_all_complete(
    start_engine, runtimes, sampler, wait_for, agent_trigger
):
    provider = runtimes(key_of=_chat_key, answer=_chat_answer)
    worker = agent_worker(
        start_engine,
        OPENAI_BASE_URL=f"{provider.url}/v1",
        OPENAI_API_KEY="sk-test",
        OPENAI_DEFAULT_MODEL=MODEL,
        AGENT_RUNTIME_TIMEOUT_SECONDS="120",
    )
    connections = sampler()
    executions = fire(agent_trigger("openai", max_retries=3), 100)

    wait_for(lambda: provider.held() == 100, timeout=60, message="100 calls never in flight")
    assert provider.most_in_flight == 100
    assert _statuses() == {ExecutionStatus.RUNNING: 100}
    provider.release.set()

    wait_for(
        lambda: _statuses()[ExecutionStatus.COMPLETED] == 100,
        timeout=60,
        message="not all completed",
    )
    assert connections.stop() <= CONNECTIONS_BOUND
    assert provider.seen == Counter(str(n) for n in range(100))
    assert provider.answered == provider.seen
    for execution in Execution.objects.filter(pk__in=[e.pk for e in executions]):
        n = execution.input_data["n"]
        assert execution.output_data == {
            "content": f"answer {n}",
            "finish_reason": "stop",
            "model": MODEL,
        }
        assert (execution.tokens_used, execution.retry_count) == (12, 0)
    assert_clean(worker)


def test_a_killed_agent_worker_with_50_calls_in_flight_loses_none_and_runs_none_twice(
    start_engine, runtimes, wait_for, agent_trigger, settings
):
    # First attempts are held (and never answered); retries are answered at once.
    runtime = runtimes(
        key_of=_webhook_id, answer=_agent_answer, holds=lambda key: key.endswith(".1"),
        verify=True,
    )  # fmt: skip
    env = {
        "AGENT_RUNTIME_URL": f"{runtime.url}/run",
        "AGENT_RUNTIME_SIGNING_SECRET": SECRET,
        "AGENT_RUNTIME_TIMEOUT_SECONDS": "120",
    }
    doomed = agent_worker(start_engine, **env)
    settings.EXECUTION_RETRY_BASE_SECONDS = 0  # a retry may go at once
    executions = fire(agent_trigger("http", max_retries=1), 50)
    ids = [str(e.execution_id) for e in executions]
    wait_for(lambda: runtime.held() == 50, timeout=60, message="50 calls never in flight")

    doomed.kill()  # SIGKILL: no result, no ack, its sockets closed by the kernel
    wait_for(lambda: len(runtime.gone) == 50, timeout=10, message="the calls were not dropped")
    assert _statuses() == {ExecutionStatus.RUNNING: 50}
    successor = agent_worker(start_engine, **env)

    # The sweep as Beat's would run it once EXECUTION_TIMEOUT_SECONDS have passed: each lost
    # attempt fails, back to pending for its retry, dispatched at once.
    later = timezone.now() + timedelta(seconds=settings.EXECUTION_TIMEOUT_SECONDS + 1)
    assert sweeper.executions_sweep(now=later).timed_out == 50
    # Taken back once: at the real time no attempt is overdue, not even a retry that the
    # successor has already started (a sweep at ``later`` would count those as lost too).
    assert sweeper.executions_sweep().timed_out == 0

    wait_for(
        lambda: _statuses()[ExecutionStatus.COMPLETED] == 50,
        timeout=60,
        message=f"not all retried: {_statuses()}",
    )
    assert _statuses() == {ExecutionStatus.COMPLETED: 50}
    assert runtime.refused == []
    # Each attempt made once: the first (dropped with the worker), the retry (answered).
    assert runtime.seen == Counter([f"{i}.1" for i in ids] + [f"{i}.2" for i in ids])
    assert runtime.gone == {f"{i}.1" for i in ids}
    assert runtime.answered == Counter(f"{i}.2" for i in ids)
    for execution in Execution.objects.all():
        key = f"{execution.execution_id}.2"
        assert execution.retry_count == 1
        assert execution.output_data == {"handled": key, "n": execution.input_data["n"]}
        assert execution.error_message == ""
    assert_clean(successor)
