"""Shared cast: tenant ``acme`` (alice, owner; bob, viewer) and tenant ``globex`` (charlie)."""

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import table_owners
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from rest_framework.test import APIClient

from accounts.choices import MembershipRole
from accounts.services import (
    agent_create,
    api_token_create,
    credential_create,
    project_create,
    tenant_member_ensure,
)
from triggers import services as trigger_services


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (each process's own: config/settings_test.py), so
    throttle counters one test filled never refuse another's requests."""
    cache.clear()


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
def root(client, db):
    """The test client logged in to the admin as a superuser: the operator."""
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(user)
    client.user = user
    yield client
    purge_test_queue()


@pytest.fixture
def dave(client, acme, alice):
    """The test client logged in to the admin as staff of acme only, with every permission
    (not a superuser)."""
    user = tenant_member_ensure(username="dave", tenant_id="acme").user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)
    client.user = user
    yield client
    purge_test_queue()


@pytest.fixture
def acme_project(acme):
    return project_create(tenant=acme, name="Support", public_id="support")


@pytest.fixture
def acme_agent(acme, acme_project):
    return agent_create(tenant=acme, project=acme_project, name="Triage", public_id="triage")


@pytest.fixture
def watch_root(settings, tmp_path):
    """FILE_WATCH_ROOTS is [tmp_path/root], which holds the folder ``in``."""
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    settings.FILE_WATCH_ROOTS = [root]
    return root


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


GITHUB_SECRET = "old-secret"


@pytest.fixture
def github_hook(acme, alice):
    """acme's webhook trigger signed with GitHub's preset (secret GITHUB_SECRET), served at
    its token URL and at the custom path /hooks/p/github/issues."""
    secret = credential_create(tenant=acme, name="github", value=GITHUB_SECRET)
    return trigger_services.trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
        signature_verification={"preset": "github"}, signing_secret=secret,
        webhook_path="/github/issues",
    )  # fmt: skip


@pytest.fixture
def race():
    """Run ``action`` in ``n`` threads released at once; returns each result or exception.

    Each thread closes its own database connection (needs ``transactional_db``)."""

    def run(action, n: int) -> list:
        results: list = []
        barrier = threading.Barrier(n)

        def contender():
            try:
                barrier.wait()
                results.append(action())
            except Exception as error:  # the caller asserts on outcomes
                results.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=contender) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    return run


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


class BrokerQueues:
    """The test broker's queues read and emptied directly: Redis's lists, or the embedded
    filesystem broker's message files (``TEST_DATABASE=sqlite``), oldest message first."""

    def __init__(self, url: str | None = None):
        self.url = url or settings.CELERY_BROKER_URL
        self.redis = redis.Redis.from_url(self.url) if self.url.startswith("redis") else None

    def _files(self, queue: str) -> list[Path]:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        # The transport's queue match (kombu.transport.filesystem._get); written order, as
        # its names (milliseconds, then a uuid4) do not keep it within a millisecond.
        paths = [folder / name for name in os.listdir(folder)]
        matching = [path for path in paths if path.name.partition(".")[2] == f"{queue}.msg"]
        return sorted(matching, key=lambda path: (path.stat().st_mtime_ns, path.name))

    def messages(self, queue: str) -> list[dict]:
        if self.redis is not None:  # workers pop the list's right end
            return [json.loads(raw) for raw in reversed(self.redis.lrange(queue, 0, -1))]
        return [json.loads(path.read_bytes()) for path in self._files(queue)]

    def length(self, queue: str) -> int:
        return len(self.messages(queue))

    def purge(self, *queues: str) -> None:
        if self.redis is not None:
            self.redis.delete(*queues)
            return
        for queue in queues:
            for path in self._files(queue):
                path.unlink(missing_ok=True)


def purge_test_queue() -> None:
    """Drop this run's queued messages (left by an earlier test's on-commit enqueues)."""
    BrokerQueues().purge(
        settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_CONTROL_QUEUE,
        settings.CELERY_AGENT_QUEUE,
    )  # fmt: skip


def queued_run_messages(client: BrokerQueues | None = None, queue: str | None = None) -> list:
    """The run queue's messages' arguments, oldest first: an execution id, or a list of
    them (a batch)."""
    client = client or BrokerQueues()
    messages = client.messages(queue or settings.CELERY_TASK_DEFAULT_QUEUE)
    return [
        json.loads(base64.b64decode(m["body"]))[0][0]
        for m in messages
        if m["headers"]["task"] == "executions.tasks.run_execution"
    ]


def queued_executions(client: BrokerQueues | None = None, queue: str | None = None) -> list[str]:
    """The execution ids the run queue's messages carry, oldest first."""
    return [
        execution_id
        for argument in queued_run_messages(client, queue)
        for execution_id in (argument if isinstance(argument, list) else [argument])
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def engine_environment(**extra: str) -> dict[str, str]:
    """The environment for a worker or Beat subprocess: this test database, this queue."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        url = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CELERY_CONTROL_QUEUE": settings.CELERY_CONTROL_QUEUE,
        **extra,
    }


class EngineProcess:
    """A real ``celery worker`` or ``celery beat`` subprocess on the test database (a
    worker reads the run, control and agent queues, or the comma-separated ``QUEUES`` given;
    ``POOL`` and ``CONCURRENCY`` choose its pool, prefork and 2 by default).

    ``kill()`` ends it like a crash (SIGKILL to its whole process group).
    """

    READY = {"worker": b"ready.", "beat": b"beat: Starting..."}

    def __init__(self, kind: str, log_path: Path, **extra_env: str):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        if kind == "worker":
            queues = ",".join(
                [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_CONTROL_QUEUE,
                 settings.CELERY_AGENT_QUEUE]
            )  # fmt: skip
            options = [
                "--pool", extra_env.pop("POOL", "prefork"),
                "--concurrency", extra_env.pop("CONCURRENCY", "2"),
                "--queues", extra_env.pop("QUEUES", queues),
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ]  # fmt: skip
        else:
            options = [
                "--scheduler", "executions.beat:TriggerBeatScheduler",
                "--pidfile=", "--schedule", str(log_path.with_suffix(".db")),
            ]  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", kind, "--loglevel", "INFO", *options],
            cwd=ROOT,
            env=engine_environment(**extra_env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while self.READY[kind] not in log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{kind} did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
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
def start_engine(transactional_db, tmp_path):
    """Start real Celery workers and Beats (``start_engine("beat", **env)``); all are
    stopped after the test. Extra keyword arguments become their environment."""
    purge_test_queue()
    processes: list[EngineProcess] = []

    def start(kind: str = "worker", **extra_env: str) -> EngineProcess:
        process = EngineProcess(kind, tmp_path / f"{kind}-{len(processes)}.log", **extra_env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()
    purge_test_queue()


@pytest.fixture
def start_worker(start_engine):
    """Start real Celery workers (see start_engine)."""
    return lambda **extra_env: start_engine("worker", **extra_env)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """A test that starts real Celery workers or Beats is ``slow``: ``-m "not slow"`` skips it.
    On the embedded default (``TEST_DATABASE=sqlite``) the tests of what only the production
    stack has (``postgresql_only``, ``redis_only``: pyproject.toml says why) are deselected."""
    for item in items:
        if "start_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    if connection.vendor != "sqlite":
        return
    production_only = [
        item for item in items
        if item.get_closest_marker("postgresql_only") or item.get_closest_marker("redis_only")
    ]  # fmt: skip
    if production_only:
        config.hook.pytest_deselected(items=production_only)
        items[:] = [item for item in items if item not in production_only]


@pytest.fixture(autouse=True)
def _tables_written_by_their_owners():
    """Fail a test during which a table was written from outside its owner
    (tests/table_owners.py; docs/architecture.md, "Tables and their owners")."""
    table_owners.violations.clear()
    yield
    found = list(dict.fromkeys(str(v) for v in table_owners.violations))
    table_owners.violations.clear()
    assert not found, "Tables written outside their owners:\n" + "\n".join(found)


@pytest.fixture(autouse=True)
def _no_dispatch_pass_at_teardown(request):
    """A test that commits ends with no dispatch pass of this process still to run.

    Each commit of a firing asks the publisher's thread for a pass (executions/dispatch.py,
    ``BatchPublisher``), which may wait up to 16 lingers first (its backoff). Such a pass
    running while a transactional test's tables are flushed can deadlock with the flush's
    TRUNCATE, failing that test's teardown and leaving rows to the next test. The database
    fixture is set up first here, so this teardown runs before its flush."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction", False)
    )
    if not transactional:
        yield
        return
    request.getfixturevalue(
        "transactional_db" if "transactional_db" in request.fixturenames else "_django_db_helper"
    )
    yield
    from executions.dispatch import batch_publisher

    batch_publisher.flush()  # after a pass in flight; what is pending, published now


@receiver(connection_created)
def _watch_writes(sender, connection, **kwargs):
    if table_owners.record_write not in connection.execute_wrappers:
        connection.execute_wrappers.append(table_owners.record_write)
