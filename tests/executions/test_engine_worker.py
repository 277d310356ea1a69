"""The engine with real Celery worker and Beat subprocesses on PostgreSQL + Redis."""

import os
import re
import shutil
import socket
import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from executions import dispatch
from executions.choices import ExecutionStatus
from executions.models import Execution, ServiceHeartbeat
from executions.services import firing, lifecycle, sweeper
from triggers.models import Trigger


def _statuses(**filters) -> list[str]:
    return list(Execution.objects.filter(**filters).values_list("status", flat=True))


def _all_completed(count: int):
    return lambda: _statuses().count(ExecutionStatus.COMPLETED) == count


def test_a_manual_execution_runs_on_a_real_worker_and_completes(
    start_worker, wait_for, acme, make_trigger
):
    start_worker()
    trigger = make_trigger(acme, "cron", task_prompt="Summarise {{ trigger.name }}")
    execution = firing.execution_create_test(trigger=trigger)

    wait_for(_all_completed(1), timeout=30, message="the worker did not complete it")
    execution.refresh_from_db()
    assert execution.output_data["dry_run"] is True
    assert execution.output_data["request"]["task_prompt"] == "Summarise cron trigger"
    assert execution.worker_id
    trigger.refresh_from_db()
    assert trigger.execution_count == 1


def test_two_beat_schedulers_at_once_fire_each_slot_exactly_once(
    start_engine, wait_for, acme, make_trigger
):
    """Both Beats sleep until the same slot and then race for 400 due triggers.

    The schedule is yearly so that no further slot comes due while the test runs."""
    triggers = [make_trigger(acme, "cron", cron_expression="0 0 1 1 *") for _ in range(400)]
    Trigger.objects.update(next_fire_at=None)
    engine = {"SCHEDULER_BATCH_SIZE": "20", "SCHEDULER_MAX_SLEEP_SECONDS": "1"}
    beats = [start_engine("beat", **engine), start_engine("beat", **engine)]
    start_engine("worker", CONCURRENCY="2")
    slot = timezone.now().replace(microsecond=0) + timedelta(seconds=3)
    Trigger.objects.update(next_fire_at=slot)

    wait_for(_all_completed(400), timeout=90, message="not every slot ran")

    assert Execution.objects.count() == 400
    assert set(Execution.objects.values_list("scheduled_for", flat=True)) == {slot}
    assert Execution.objects.values("trigger_id").distinct().count() == len(triggers)
    enqueued = [
        sum(int(n) for n in re.findall(r"(\d+) executions enqueued", beat.log())) for beat in beats
    ]
    assert sum(enqueued) == 400, enqueued  # no slot was enqueued by both
    # Each Beat says it is alive, and what its last firing pass saw.
    beats_heard = list(ServiceHeartbeat.objects.filter(service="scheduler"))
    assert len(beats_heard) == 2
    firings = [b.details for b in beats_heard if b.details]
    assert sum(d["fired"] for d in firings) == 400
    assert all(0 <= d["slot_lag_seconds"] < 60 for d in firings)


class SlowRuntime(BaseHTTPRequestHandler):
    """An agent runtime whose first answer takes ``first_delay`` seconds."""

    calls: list[float] = []
    first_delay = 30.0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append(1)
        if len(type(self).calls) == 1:
            threading.Event().wait(self.first_delay)
        body = b'{"output": {"answer": 42}, "tokens_used": 7}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_runtime():
    SlowRuntime.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowRuntime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/run"
    server.shutdown()


def test_a_killed_workers_execution_is_retried_and_finishes(
    start_worker, wait_for, acme, make_trigger, slow_runtime, settings
):
    runtime = {
        "AGENT_RUNTIME_URL": slow_runtime,
        "AGENT_RUNTIME_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }
    doomed = start_worker(**runtime)
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron"))
    wait_for(lambda: SlowRuntime.calls, timeout=30, message="the run never reached the agent")
    assert _statuses() == [ExecutionStatus.RUNNING]

    doomed.kill()  # SIGKILL mid-run: no result, no ack
    settings.EXECUTION_TIMEOUT_SECONDS = 1
    start_worker(**runtime)
    wait_for(lambda: sweeper.executions_sweep().timed_out, timeout=10, message="not seen as lost")

    # The retry waits in the database for its backoff; the periodic pass (Beat's, in
    # production) then dispatches it.
    done = _all_completed(1)
    wait_for(lambda: dispatch.dispatch_waiting() >= 0 and done(), timeout=60, message="not rerun")
    execution.refresh_from_db()
    assert execution.retry_count == 1
    assert execution.output_data == {"answer": 42}
    assert len(SlowRuntime.calls) == 2


class HangingRuntime(BaseHTTPRequestHandler):
    """An agent runtime that holds every request until its client goes away (or 60 s)."""

    arrived = threading.Event()
    client_gone = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).arrived.set()
        self.connection.settimeout(60)
        try:
            if self.connection.recv(1) == b"":
                type(self).client_gone.set()
        except TimeoutError:
            pass
        except OSError:
            type(self).client_gone.set()

    def log_message(self, *args):
        pass


def test_cancelling_a_running_execution_interrupts_its_agent_request(
    start_worker, wait_for, acme, make_trigger, alice
):
    HangingRuntime.arrived, HangingRuntime.client_gone = threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), HangingRuntime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        worker = start_worker(
            AGENT_RUNTIME_URL=f"http://127.0.0.1:{server.server_port}/run",
            AGENT_RUNTIME_SIGNING_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            AGENT_RUNTIME_TIMEOUT_SECONDS="120",
            CONCURRENCY="1",
        )
        trigger = make_trigger(acme, "cron")
        running = firing.execution_create_test(trigger=trigger)
        assert HangingRuntime.arrived.wait(30), "the run never reached the agent"

        lifecycle.execution_cancel(execution=running, cancelled_by=alice)

        assert HangingRuntime.client_gone.wait(20), "the agent request was not interrupted"
        # The attempt ended there and then, leaving the cancelled state as it was.
        wait_for(lambda: "attempt interrupted" in worker.log(), timeout=10, message=worker.log())
    finally:
        server.shutdown()
    running.refresh_from_db()
    assert (running.status, running.error_message) == ("cancelled", "Cancelled by alice.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of the test's own, so an outage hurts nobody else."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                threading.Event().wait(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.process.kill()
        self.process.wait(timeout=10)


def _use_broker(url: str) -> None:
    """Point this process's Celery publisher at ``url`` (its pools are rebuilt lazily).

    Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    """
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def own_broker():
    redis_server = ThrowawayRedis()
    redis_server.start()
    original = celery_app.conf.broker_url
    _use_broker(redis_server.url)
    yield redis_server
    _use_broker(original)
    if redis_server.process.poll() is None:
        redis_server.stop()


def test_a_broker_outage_loses_nothing(start_worker, wait_for, acme, make_trigger, own_broker):
    start_worker(CELERY_BROKER_URL=own_broker.url)
    trigger = make_trigger(acme, "webhook")

    own_broker.stop()
    fired = [
        firing.execution_fire(trigger=trigger, execution_type="webhook").execution for _ in range(5)
    ]
    assert _statuses() == [ExecutionStatus.PENDING] * 5  # stored; the publish failed
    with pytest.raises(ConnectionError):
        socket.create_connection(("127.0.0.1", own_broker.port), timeout=1)

    dispatch.batch_publisher.flush()  # the firings' dispatch pass, done: its publish failed
    assert not Execution.objects.filter(dispatched_at__isnull=False).exists()  # all waiting

    own_broker.start()
    assert sweeper.executions_sweep().dispatched == 5  # the sweep's pass, as Beat's would

    wait_for(_all_completed(5), timeout=60, message="the worker did not catch up")
    assert {e.execution_id for e in fired} == set(
        Execution.objects.values_list("execution_id", flat=True)
    )


def test_the_test_endpoint_runs_the_execution_on_a_worker(
    start_worker, wait_for, alice_client, acme, make_trigger
):
    start_worker()
    trigger = make_trigger(acme, "cron", task_prompt="ping")

    created = alice_client.post(f"/api/triggers/{trigger.id}/test")

    assert created.status_code == 201
    detail = f"/api/executions/{created.json()['id']}"
    wait_for(lambda: alice_client.get(detail).json()["status"] == 2, timeout=30)
    body = alice_client.get(detail).json()
    assert body["output_data"]["request"]["task_prompt"] == "ping"
    assert body["duration_seconds"] is not None
