"""Slow agents: N agent runs at once against a runtime that answers each after D seconds.

    .venv/bin/python bench/agents.py [--n 1000] [--delay 5] [--mode sync|async]

The service runs as ``bin/run`` starts it, with its defaults (web, workers, Beat; nothing
tuned), on PostgreSQL (database ``bench_agents``) and Redis (db 10), with the ``http`` runner
pointed at a fake agent runtime on 127.0.0.1 (asyncio, in this process). N webhook triggers
get one delivery each, sent as fast as 32 connections allow; the clock runs from the first
delivery until every execution is completed. ``sync``: the runtime answers each call after D
seconds. ``async``: it answers 202 at once and posts the result, signed with Standard
Webhooks, to ``/api/executions/{id}/result`` D seconds later (docs/runners.md).

Prints: the time until all are done against D, the most calls in flight the runtime saw, the
workers' total RSS (every Celery worker process, pool children included, sampled), the most
database connections open at once (pg_stat_activity), and the completions: 0 lost (every
execution completed) and 0 duplicated (no execution called twice, none completed twice).
"""

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psutil
from _shared import (
    PG,
    ROOT,
    django_setup,
    environment,
    migrate,
    percentile,
    recreate_database,
    stop_group,
)

DATABASE = "bench_agents"
BROKER = "redis://127.0.0.1:6379/10"
WEB_PORT = 8017
RUNTIME_PORT = 8027
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# -- the fake agent runtime ------------------------------------------------------------------


class Runtime:
    """An HTTP agent runtime on 127.0.0.1 that answers every run after ``delay`` seconds
    (``sync``), or at once with 202 and posts the signed result ``delay`` seconds later."""

    def __init__(self, delay: float, mode: str):
        self.delay, self.mode = delay, mode
        self.in_flight = self.most_in_flight = 0
        self.calls: dict[str, int] = {}  # webhook-id (execution id and attempt) -> calls
        self.posted: dict[str, int] = {}  # async: results posted per execution -> status
        self.pending: set[asyncio.Future] = set()
        self.arrivals: list[float] = []  # when each call arrived (time.monotonic())
        self.post_seconds: list[float] = []  # async: how long each result post took
        self._results_client = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self.ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main():
            server = await asyncio.start_server(
                self._handle, "127.0.0.1", RUNTIME_PORT, backlog=4096
            )
            self.ready.set()
            async with server:
                await server.serve_forever()

        self.loop.run_until_complete(main())

    async def _handle(self, reader, writer) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1)
                    for line in head.decode("latin-1").split("\r\n")[1:]
                    if ": " in line
                )
                lowered = {k.lower(): v for k, v in headers.items()}
                body = await reader.readexactly(int(lowered.get("content-length", 0)))
                message_id = lowered.get("webhook-id", "")
                self.calls[message_id] = self.calls.get(message_id, 0) + 1
                self.arrivals.append(time.monotonic())
                request = json.loads(body)
                if self.mode == "async":
                    task = asyncio.ensure_future(
                        self._post_later(request["execution_id"], request["attempt"])
                    )
                    self.pending.add(task)
                    task.add_done_callback(self.pending.discard)
                    await self._answer(writer, 202, {"status": "accepted"})
                    continue
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    await asyncio.sleep(self.delay)
                finally:
                    self.in_flight -= 1
                await self._answer(writer, 200, _result(request["execution_id"]))
        writer.close()

    @staticmethod
    async def _answer(writer, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        writer.write(
            b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (status, len(raw))
            + raw
        )
        await writer.drain()

    def _client(self):
        import httpx

        if self._results_client is None:  # one client, its connections kept alive
            self._results_client = httpx.AsyncClient(timeout=30)
        return self._results_client

    async def _post_later(self, execution_id: str, attempt: int) -> None:
        import httpx
        from standardwebhooks.webhooks import Webhook

        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        body = json.dumps(_result(execution_id))
        message_id = f"{execution_id}.{attempt}.result"  # names the attempt (docs/runners.md)
        now = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(message_id, now, body),
        }
        url = f"http://127.0.0.1:{WEB_PORT}/api/executions/{execution_id}/result"
        async with _RESULT_POSTS:
            for _ in range(5):
                with contextlib.suppress(httpx.HTTPError):
                    began = time.monotonic()
                    response = await self._client().post(url, content=body, headers=headers)
                    self.post_seconds.append(time.monotonic() - began)
                    self.posted[execution_id] = response.status_code
                    break
                await asyncio.sleep(1)


_RESULT_POSTS = asyncio.Semaphore(32)  # as many result posts at once as the web server takes


def _result(execution_id: str) -> dict:
    return {"output": {"answer": f"done {execution_id}"}, "tokens_used": 42}


# -- the service -----------------------------------------------------------------------------


def prepare(n: int) -> list[str]:
    """N webhook triggers; their webhook tokens."""
    from accounts.services import tenant_member_ensure
    from triggers.services import trigger_create

    tenant = tenant_member_ensure(username="bench", tenant_id="bench").tenant
    return [
        trigger_create(
            tenant=tenant, provider_trigger_id="webhook", name=f"agent {i}"
        ).webhook_endpoint.token
        for i in range(n)
    ]


def start_service(env: dict[str, str]) -> subprocess.Popen:
    service = subprocess.Popen(
        [str(ROOT / "bin/run")], cwd=ROOT, env=env, start_new_session=True,
        stdout=open(os.path.join(env["VAR_DIR"], "run.log"), "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200 and len(_workers(service.pid)) >= 3:
                time.sleep(3)  # the workers connect to the broker
                return service
        time.sleep(0.5)
    raise RuntimeError("bin/run did not start")


def _workers(root_pid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(root_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "celery" in " ".join(process.cmdline()) and "worker" in process.cmdline():
                found.append(process)
    return found


def deliver(tokens: list[str]) -> None:
    def post(token: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=30)
        connection.request(
            "POST", f"/hooks/{token}", body=b'{"ticket": 1}',
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        status = connection.getresponse().status
        if status != 202:
            raise RuntimeError(f"a delivery answered {status}")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(post, tokens))


class Sampler:
    """Every 0.5 s: the workers' RSS and the database's connections; keeps the most."""

    def __init__(self, root_pid: int):
        import psycopg

        self.root_pid, self.rss, self.connections = root_pid, 0, 0
        self._db = psycopg.connect(f"{PG}/postgres", autocommit=True)
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss = 0
            for process in _workers(self.root_pid):
                with contextlib.suppress(psutil.Error):
                    rss += process.memory_info().rss
            self.rss = max(self.rss, rss)
            (count,) = self._db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DATABASE]
            ).fetchone()
            self.connections = max(self.connections, count)

    def stop(self) -> None:
        self._stop.set()


def completed() -> tuple[int, int]:
    from executions.models import Execution

    rows = Execution.objects.values_list("status", flat=True)
    statuses = list(rows)
    return statuses.count("completed"), len(statuses)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=5.0)
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="bench-agents-")
    env = environment(
        DATABASE,
        broker=BROKER,
        CELERY_QUEUE="bench-agents",
        VAR_DIR=var_dir,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{WEB_PORT}",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1",
        AGENT_RUNTIME_URL=f"http://127.0.0.1:{RUNTIME_PORT}/run",
        AGENT_RUNTIME_SIGNING_SECRET=SECRET,
        BIND=f"127.0.0.1:{WEB_PORT}",
        SERVICES="web worker beat",
    )
    recreate_database(DATABASE)
    subprocess.run(["redis-cli", "-n", "10", "FLUSHDB"], check=True, capture_output=True)
    migrate(env)
    django_setup(env)
    tokens = prepare(args.n)
    runtime = Runtime(args.delay, args.mode)
    service = start_service(env)
    sampler = Sampler(service.pid)
    try:
        started = time.monotonic()
        deliver(tokens)
        delivered = time.monotonic() - started
        done = total = 0
        while time.monotonic() - started < args.timeout:
            done, total = completed()
            if done == args.n:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        cpu = _cpu_by_process(service.pid)
    finally:
        sampler.stop()
        stop_group(service, seconds=30)
    from executions.models import Execution

    called_twice = sum(1 for count in runtime.calls.values() if count > 1)
    retried = Execution.objects.filter(retry_count__gt=0).count()
    print(
        f"{args.mode}: {args.n} agent runs, the runtime answering after {args.delay:g} s "
        f"(bin/run's defaults; PostgreSQL + Redis)\n"
        f"  delivered in {delivered:.1f} s; all done after {elapsed:.1f} s "
        f"({elapsed / args.delay:.1f} x the agent's {args.delay:g} s), "
        f"{elapsed - delivered:.1f} s after the last was stored\n"
        f"  completed {done} of {args.n} (stored {total}); most calls in flight at the runtime: "
        f"{runtime.most_in_flight}\n"
        f"  workers' RSS at most {sampler.rss / 2**20:.0f} MB in all; database connections at "
        f"most {sampler.connections}\n"
        f"  calls reached the runtime from {_at(runtime.arrivals, 0, started)} to "
        f"{_at(runtime.arrivals, 1, started)} (half by {_at(runtime.arrivals, 0.5, started)})\n"
        f"  CPU seconds: {', '.join(f'{name} {seconds:.1f}' for name, seconds in cpu.items())}\n"
        f"  lost {args.n - done}; calls made twice {called_twice}; attempts retried {retried}"
        + (
            f"; results posted {len(runtime.posted)}, answered "
            f"{dict(collections.Counter(runtime.posted.values()))}, each in "
            f"{_at(runtime.post_seconds, 0.5, 0)} (p50), {_at(runtime.post_seconds, 0.99, 0)} "
            "(p99)"
            if args.mode == "async"
            else ""
        )
    )
    return 0 if done == args.n and not called_twice else 1


def _cpu_by_process(root_pid: int) -> dict[str, float]:
    """CPU (user + system) used so far by each kind of process bin/run started."""
    used: dict[str, float] = {}
    for process in psutil.Process(root_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            line = " ".join(process.cmdline())
            name = next(
                (kind for kind, mark in (("agent worker", "agents@"), ("run worker", "worker@"),
                 ("control worker", "control@"), ("beat", " beat"), ("web", "gunicorn"))
                 if mark in line), "other",
            )  # fmt: skip
            times = process.cpu_times()
            used[name] = used.get(name, 0) + times.user + times.system
    return used


def _at(times: list[float], share: float, started: float) -> str:
    if not times:
        return "-"
    return f"{percentile(times, share) - started:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
