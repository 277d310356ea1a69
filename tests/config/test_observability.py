"""/metrics (Prometheus text, parsed with prometheus-client's parser) and /readyz."""

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from celery import current_app
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config.logs import JsonLinesFormatter
from executions import heartbeats
from executions.choices import ExecutionStatus, ExecutionType
from executions.log_context import execution_logged
from executions.models import Execution, ServiceHeartbeat
from executions.scheduler import fire_due_triggers
from executions.services import lifecycle
from executions.services.firing import execution_fire
from tests.conftest import ROOT, purge_test_queue
from triggers.models import Trigger

P = "agent_triggers_"
SCRAPE_TOKEN = "s3cret-scrape"


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}, scraped with a METRICS_TOKEN (what
    the tests run as, DEBUG off, requires)."""
    with override_settings(METRICS_TOKEN=SCRAPE_TOKEN):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_metric_moves_when_executions_fire(
    client, acme, make_trigger, github_hook, django_capture_on_commit_callbacks
):
    # A minute's slot, fired a second after it: one slot each, whatever the clock says.
    slot = (timezone.now() - timedelta(minutes=1)).replace(second=0, microsecond=0)
    now = slot + timedelta(seconds=1)
    on_time = make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="allow")
    late = make_trigger(acme, "cron", cron_expression="* * * * *", misfire_policy="skip")
    busy = make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="skip")
    Execution.objects.create(
        tenant=acme, trigger=busy, execution_type=ExecutionType.MANUAL, status="running"
    )
    Trigger.objects.filter(pk__in=[on_time.pk, busy.pk]).update(next_fire_at=slot)
    Trigger.objects.filter(pk=late.pk).update(next_fire_at=slot - timedelta(hours=2))
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        fire_due_triggers(now=now)
    delivered = client.post(
        "/hooks/p/github/issues", data=b"{}", content_type="application/json"
    )  # unsigned: refused
    pending = Execution.objects.get(trigger=on_time, status=ExecutionStatus.PENDING)
    started = lifecycle.execution_start(execution_id=pending.execution_id, worker_id="w1")
    lifecycle.execution_complete(execution=started, output_data={"ok": True})
    failing = Execution.objects.create(
        tenant=acme, trigger=on_time, execution_type=ExecutionType.MANUAL, max_retries=0
    )
    lifecycle.execution_attempt_failed(
        execution=lifecycle.execution_start(execution_id=failing.execution_id, worker_id="w1"),
        error_message="boom",
        retry=False,
    )
    heartbeats.heartbeat("scheduler", {"slot_lag_seconds": 0.25}, force=True)
    purge_test_queue()
    after = scrape(client)

    assert delivered.status_code == 401
    moved = {
        (f"{P}executions_total", (("status", "pending"), ("type", "scheduled"))),
        (f"{P}executions_total", (("status", "running"), ("type", "scheduled"))),
        (f"{P}executions_total", (("status", "completed"), ("type", "scheduled"))),
        (f"{P}executions_total", (("status", "cancelled"), ("type", "scheduled"))),
        (f"{P}executions_total", (("status", "failed"), ("type", "manual"))),
        (f"{P}execution_duration_seconds_count", (("status", "completed"), ("type", "scheduled"))),
        (f"{P}execution_duration_seconds_count", (("status", "failed"), ("type", "manual"))),
        (f"{P}execution_queue_wait_seconds_count", (("type", "scheduled"),)),
        (f"{P}fire_delay_seconds_count", ()),
        (f"{P}scheduler_slots_total", (("outcome", "fired"),)),
        (f"{P}scheduler_slots_total", (("outcome", "skipped"),)),
        (f"{P}scheduler_slots_total", (("outcome", "missed"),)),
        (f"{P}webhook_requests_total", (("outcome", "missing_signature"),)),
    }
    for key in moved:
        assert after.get(key, 0) > before.get(key, 0), key
    # The missed slots of the two hours the late trigger was behind (minus the on-time one).
    assert (
        value(after, f"{P}scheduler_slots_total", outcome="missed")
        - value(before, f"{P}scheduler_slots_total", outcome="missed")
        >= 100
    )
    # The gauges, read from the database.
    pending_now = Execution.objects.filter(status=ExecutionStatus.PENDING).count()
    assert value(after, f"{P}pending_executions") == pending_now >= 1
    assert value(after, f"{P}oldest_pending_age_seconds") > 0
    assert 0 <= value(after, f"{P}scheduler_heartbeat_age_seconds") < 60
    assert value(after, f"{P}scheduler_slot_lag_seconds") == 0.25


def test_a_stored_webhook_delivery_is_counted(client, acme, make_trigger):
    hook = make_trigger(acme, "webhook")
    before = value(scrape(client), f"{P}webhook_requests_total", outcome="stored")

    response = client.post(
        f"/hooks/{hook.webhook_endpoint.token}", data=b"{}", content_type="application/json"
    )
    purge_test_queue()

    assert response.status_code == 202
    assert value(scrape(client), f"{P}webhook_requests_total", outcome="stored") == before + 1


def behind_proxies(settings, count: int) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}


@override_settings(METRICS_TOKEN="", DEBUG=True)
def test_without_a_token_metrics_answer_loopback_only_in_development(client, db):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


@pytest.mark.parametrize(("debug", "num_proxies"), [(False, 0), (False, 1), (True, 1)])
def test_without_a_token_metrics_refuse_loopback_too_in_production_or_behind_a_proxy(
    client, db, settings, debug, num_proxies
):
    """Behind README's nginx on the same host every request comes from 127.0.0.1: loopback
    proves nothing there (issue 25, finding 7)."""
    settings.METRICS_TOKEN, settings.DEBUG = "", debug
    behind_proxies(settings, num_proxies)

    from_nginx = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert from_nginx.status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert f"{P}pending_executions" not in client.get("/metrics").content.decode()


@override_settings(METRICS_TOKEN=SCRAPE_TOKEN)
def test_with_a_token_metrics_need_it_from_everywhere(client, db, settings):
    behind_proxies(settings, 1)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert ok.status_code == 200
    assert f"{P}pending_executions" in ok.content.decode()


# -- /readyz ------------------------------------------------------------------------------------


class ThrowawayRedis:
    """A redis-server of this test's own: stopping it hurts nobody else."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                threading.Event().wait(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_broker():
    server = ThrowawayRedis()
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    original = current_app.conf.broker_url
    os.environ["CELERY_BROKER_URL"] = current_app.conf.broker_url = server.url
    yield server
    os.environ["CELERY_BROKER_URL"] = current_app.conf.broker_url = original
    server.stop()


@pytest.mark.slow
def test_readyz_names_the_broker_when_it_is_stopped(client, db, own_broker):
    heartbeats.heartbeat("scheduler", {}, force=True)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "scheduler": "ok"}

    own_broker.stop()
    down = client.get("/readyz")

    assert down.status_code == 503
    assert down.json()["failed"] == ["broker"]
    assert "Connection" in down.json()["checks"]["broker"]


def test_readyz_names_a_silent_scheduler(client, db):
    never = client.get("/readyz")
    assert never.status_code == 503
    assert never.json()["failed"] == ["scheduler"]
    assert never.json()["checks"]["scheduler"] == "no heartbeat yet"

    heartbeats.heartbeat("scheduler", {}, force=True)
    ServiceHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=10))
    old = client.get("/readyz")
    assert old.status_code == 503
    assert "last heartbeat 600 s ago" in old.json()["checks"]["scheduler"]


def test_healthz_stays_liveness_only(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.slow
def test_in_multiprocess_mode_metrics_sum_every_process(client, db, tmp_path, monkeypatch):
    """Under gunicorn (bin/run sets PROMETHEUS_MULTIPROC_DIR for every process of the
    machine), a count made in another process — a worker's — shows in /metrics."""
    count_in_another_process = (
        "from executions import metrics; metrics.executions_reached('polling', 'failed', 3)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", count_in_another_process], env=env, check=True, cwd=ROOT
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    samples = scrape(client)

    assert value(samples, f"{P}executions_total", type="polling", status="failed") == 6
    assert f"{P}pending_executions" in {name for name, _ in samples}


# -- JSON log lines -----------------------------------------------------------------------------


def test_json_log_lines_carry_the_execution_trigger_and_tenant(acme, make_trigger):
    execution = execution_fire(trigger=make_trigger(acme, "webhook"), execution_type="webhook")
    purge_test_queue()
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonLinesFormatter())
    log = logging.getLogger("tests.json_lines")
    log.addHandler(handler)
    try:
        log.warning("outside")
        with execution_logged(execution.execution):
            try:
                raise ValueError("agent said no")
            except ValueError:
                log.exception("Runner crashed on execution %s", "x")
    finally:
        log.removeHandler(handler)

    outside, inside = (json.loads(line) for line in lines.getvalue().splitlines())
    assert outside["message"] == "outside" and "execution_id" not in outside
    assert inside["execution_id"] == str(execution.execution.execution_id)
    assert (inside["trigger_id"], inside["tenant_id"]) == (execution.execution.trigger_id, "acme")
    assert inside["level"] == "ERROR" and "ValueError: agent said no" in inside["exception"]
