"""Shared cast: tenant ``acme`` (alice, owner; bob, viewer) and tenant ``globex`` (charlie)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.choices import MembershipRole
from accounts.services import agent_create, api_token_create, project_create, tenant_member_ensure
from triggers import services as trigger_services


@pytest.fixture
def alice_membership(db):
    return tenant_member_ensure(username="alice", tenant_id="acme", role=MembershipRole.OWNER)


@pytest.fixture
def bob_membership(db, alice_membership):
    return tenant_member_ensure(username="bob", tenant_id="acme", role=MembershipRole.VIEWER)


@pytest.fixture
def charlie_membership(db):
    return tenant_member_ensure(username="charlie", tenant_id="globex", role=MembershipRole.OWNER)


@pytest.fixture
def acme(alice_membership):
    return alice_membership.tenant


@pytest.fixture
def globex(charlie_membership):
    return charlie_membership.tenant


@pytest.fixture
def alice(alice_membership):
    return alice_membership.user


def _client_for(membership) -> APIClient:
    _, token = api_token_create(membership=membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice_client(alice_membership):
    return _client_for(alice_membership)


@pytest.fixture
def bob_client(bob_membership):
    return _client_for(bob_membership)


@pytest.fixture
def charlie_client(charlie_membership):
    return _client_for(charlie_membership)


@pytest.fixture
def acme_project(acme):
    return project_create(tenant=acme, name="Support", public_id="support")


@pytest.fixture
def acme_agent(acme, acme_project):
    return agent_create(tenant=acme, project=acme_project, name="Triage", public_id="triage")


@pytest.fixture
def make_trigger(alice):
    """Create a trigger through the service, as every surface does."""

    def make(tenant, kind="cron", **fields):
        if kind == "cron":
            fields.setdefault("cron_expression", "*/5 * * * *")
        fields.setdefault("name", f"{kind} trigger")
        return trigger_services.trigger_create(
            tenant=tenant,
            provider_id=fields.pop("provider_id", "builtin"),
            provider_trigger_id=kind,
            created_by=fields.pop("created_by", alice),
            **fields,
        )

    return make


# -- the execution engine: real workers -------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def wait_for():
    """Poll ``predicate`` until it is truthy; fail with ``message`` after ``timeout`` s."""

    def wait(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(message or f"condition not met within {timeout} s")
            time.sleep(interval)

    return wait


def purge_test_queue() -> None:
    """Drop this run's queued messages (left by an earlier test's on-commit enqueues)."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


def engine_environment(**extra: str) -> dict[str, str]:
    """The environment for a worker or Beat subprocess: this test database, this queue."""
    db = connection.settings_dict
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    url = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        **extra,
    }


class WorkerProcess:
    """A real ``celery worker`` subprocess; ``kill()`` ends it like a crash (SIGKILL)."""

    def __init__(self, log_path: Path, **extra_env: str):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", "prefork", "--concurrency", extra_env.pop("CONCURRENCY", "2"),
            "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
            "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=engine_environment(**extra_env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"ready." not in log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children die mid-run."""
        os.killpg(self.process.pid, 9)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start real Celery workers on the test database; they are stopped after the test."""
    purge_test_queue()
    workers: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        worker = WorkerProcess(tmp_path / f"worker-{len(workers)}.log", **extra_env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    purge_test_queue()
