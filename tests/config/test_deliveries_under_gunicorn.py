"""Webhook deliveries through a real gunicorn on the test database, as production serves
them (``gunicorn config.wsgi -c config/gunicorn.py``): the first delivery to a trigger goes
through Django's handler, the next ones the remembered trigger's lean way in front of it
(config/handlers.py) — and that way still stores them after PostgreSQL ended the worker's
idle session."""

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from executions.models import Execution
from tests.conftest import GITHUB_SECRET, ROOT, engine_environment, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgresql_only,  # the lean way needs PostgreSQL's delivery_version
    pytest.mark.django_db(transaction=True),
]
BODY = json.dumps({"action": "opened", "issue": {"title": "Bug"}}).encode()


@pytest.fixture
def gunicorn(tmp_path):
    """One sync worker serving config.wsgi on the test database; its base URL."""
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=engine_environment(DATABASE_CONN_MAX_AGE="600"),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                log.close()
                raise RuntimeError((tmp_path / "gunicorn.log").read_text()) from None
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=15)
    log.close()


def deliver(base: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/hooks/{token}", data=BODY, method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256="
            + hmac.new(GITHUB_SECRET.encode(), BODY, hashlib.sha256).hexdigest(),
        },
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def end_the_servers_sessions() -> None:
    """As a PostgreSQL restart or idle_session_timeout would: every session on the test
    database but this one ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    time.sleep(0.5)  # the backends exit and their sockets close


def test_remembered_deliveries_are_stored_also_after_the_database_ended_the_session(
    github_hook, gunicorn
):
    token = github_hook.webhook_endpoint.token
    answers = [deliver(gunicorn, token) for _ in range(3)]  # the first one remembers
    end_the_servers_sessions()
    answers += [deliver(gunicorn, token) for _ in range(2)]

    assert [status for status, _ in answers] == [202] * 5, answers
    ids = [body["execution_id"] for _, body in answers]
    stored = Execution.objects.filter(trigger=github_hook).values_list("execution_id", flat=True)
    assert sorted(map(str, stored)) == sorted(ids) and len(set(ids)) == 5
