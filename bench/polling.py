"""Polling at scale: N polling triggers at a 60 s interval against a local feed server, two
Beats claiming, Celery workers polling, on PostgreSQL + Redis.

    .venv/bin/python bench/polling.py [--n 10000] [--minutes 3] [--item-every 300]
                                      [--workers 1] [--concurrency 4]

Creates the database ``bench_polling`` (dropped first, migrated) and N enabled polling
triggers, bulk-inserted as the provider API stores them: half ``rss/on_new_item``, half
``http/on_new_json_item``, each polling ``/feed/<i>`` of a feed server on 127.0.0.1 (a
separate asyncio process: RSS 2.0 or JSON, the newest 10 items, an ETag answered with 304).
Feed i gains an item every ``--item-every`` seconds (the feeds' phases spread evenly), and
starts with a backlog the first poll must not fire. Two ``celery beat -S
executions.beat:TriggerBeatScheduler`` claim the polls; ``--workers`` Celery workers
(prefork, ``--concurrency`` each) on a poll queue of their own poll; a collector pops the run
messages off the execution queue (no agent runs). The first polls are spread over the first
minute (the warm-up, when each trigger's first poll sets its cursor); then ``--minutes``
minutes are measured.

It prints the poll start lag (from a poll's due time, ``next_poll_at`` as claimed, to its
task starting on a worker: bench/polling_worker.py notes it) p50, p99 and max over the polls
due in the measured minutes, polls missed (a trigger's due time in those minutes without a
poll) and polled twice, and the items: expected = every item a feed showed after its
trigger's first poll, up to its last poll (the server logs the newest item each answer
showed); missed = expected items without an execution; duplicated = items with more than one
execution or run message; unexpected = executions of items not expected (the backlog). Then
the CPU seconds of the Beats, the workers, the feed server and PostgreSQL over the window.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import psutil
import redis
from _shared import ROOT, django_setup, environment, migrate, percentile, recreate_database

DATABASE = "bench_polling"
BROKER = "redis://127.0.0.1:6379/12"
RUN_QUEUE = "bench-polling-runs"
POLL_QUEUE = "bench-polling-polls"
INTERVAL = 60
WINDOW = 10  # items a feed shows
BACKLOG = 3  # items each feed has before its first poll


# -- the feed server (a process of its own) ---------------------------------------------------


class Feeds:
    """Feed i's item k is published at ``t0 + phase(i) + k * every``; it shows the newest
    WINDOW published ones, newest first."""

    def __init__(self, t0: float, n: int, every: float):
        self.t0, self.n, self.every = t0, n, every

    def newest(self, i: int, now: float) -> int:
        phase = (i * 7919 % self.n) / self.n * self.every
        return int((now - self.t0 - phase) // self.every)

    def published(self, i: int, k: int) -> datetime:
        phase = (i * 7919 % self.n) / self.n * self.every
        return datetime.fromtimestamp(self.t0 + phase + k * self.every, tz=UTC)

    def body(self, i: int, newest: int) -> tuple[bytes, bytes]:
        ks = range(newest, newest - WINDOW, -1)
        if i % 2:
            items = [{"id": f"{i}-{k}", "title": f"Item {k}",
                      "published": self.published(i, k).isoformat()} for k in ks]  # fmt: skip
            return b"application/json", json.dumps({"items": items}).encode()
        entries = "".join(
            f"<item><guid>{i}-{k}</guid><title>Item {k}</title><link>https://feed.test/{i}/{k}"
            f"</link><pubDate>{format_datetime(self.published(i, k), usegmt=True)}</pubDate>"
            "</item>"
            for k in ks
        )
        return b"application/rss+xml", (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed '
            f"{i}</title><link>https://feed.test/{i}</link>{entries}</channel></rss>"
        ).encode()


def serve(port: int, t0: float, n: int, every: float, log_path: str) -> None:
    feeds = Feeds(t0, n, every)
    seen: list[tuple[int, float, int, int]] = []

    class Http(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""

        def data_received(self, data):
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1].decode()
                headers = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (line.partition(b":") for line in lines[1:])
                )
                self.transport.write(answer(path, headers))

    def answer(path: str, headers: dict) -> bytes:
        now = time.time()
        i = int(path.rsplit("/", 1)[1])
        newest = feeds.newest(i, now)
        etag = f'"{i}-{newest}"'.encode()
        if headers.get(b"if-none-match") == etag:
            seen.append((i, now, newest, 304))
            return b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\nContent-Length: 0\r\n\r\n"
        content_type, body = feeds.body(i, newest)
        seen.append((i, now, newest, 200))
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nETag: " + etag
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024)
        await stop
        server.close()

    asyncio.run(main())
    Path(log_path).write_text(json.dumps(seen))


# -- setup ------------------------------------------------------------------------------------


def create_triggers(n: int, port: int) -> list[int]:
    """Bulk insert: the rows project_trigger_create and trigger_enable would store (a poll
    due index entry each once armed), without their per-row validation."""
    from accounts.services import project_create, tenant_member_ensure
    from polling.models import PollingState
    from triggers.models import Trigger

    tenant = tenant_member_ensure(username="bench", tenant_id="bench", role="owner").tenant
    project = project_create(tenant=tenant, name="Bench", public_id="bench")
    batch = []
    for i in range(n):
        config = {"url": f"http://127.0.0.1:{port}/feed/{i}", "polling_frequency": 60000}
        if i % 2:
            config.update(items_path="items", id_field="id", order_field="published")
        trigger = Trigger(
            tenant=tenant, project=project, origin="provider", name=f"bench {i}",
            provider_id="http" if i % 2 else "rss",
            provider_trigger_id="on_new_json_item" if i % 2 else "on_new_item",
            config=config, public_id=f"bench-{i}",
        )  # fmt: skip
        trigger.config_hash = trigger.compute_config_hash()
        batch.append(trigger)
    Trigger.objects.bulk_create(batch, batch_size=2000)
    ids = list(Trigger.objects.order_by("id").values_list("id", flat=True))
    states = [PollingState(trigger_id=pk, interval_seconds=INTERVAL) for pk in ids]
    PollingState.objects.bulk_create(states, batch_size=2000)
    return ids


def arm(ids: list[int], start: datetime) -> dict[int, datetime]:
    """The first polls, spread evenly over the first minute from ``start``."""
    from django.db import connection

    first = {
        pk: start + timedelta(seconds=INTERVAL * rank / len(ids)) for rank, pk in enumerate(ids)
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE polling_pollingstate"
            " SET next_poll_at = %s + (trigger_id - %s) * %s * interval '1 second'",
            [start, ids[0], INTERVAL / len(ids)],
        )
    return first


# -- the run ----------------------------------------------------------------------------------


class Collector(threading.Thread):
    """Pops every run message off the execution queue; counts them per execution id."""

    def __init__(self):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(BROKER)
        self.client.delete(RUN_QUEUE, POLL_QUEUE)
        self.messages: Counter = Counter()
        self.running = True

    def run(self):
        while self.running:
            popped = self.client.brpop([RUN_QUEUE], timeout=1)
            if popped is None:
                continue
            for raw in [popped[1], *self._drain()]:
                body = json.loads(base64.b64decode(json.loads(raw)["body"]))
                self.messages[str(body[0][0])] += 1

    def _drain(self):
        while raw := self.client.rpop(RUN_QUEUE):
            yield raw


def start(
    kind: str, env: dict, log_dir: Path, index: int, concurrency: int = 0, pool: str = ""
) -> subprocess.Popen:
    """A Beat, or a worker on the poll queue, in a process group of its own."""
    log = open(log_dir / f"{kind}-{index}.log", "wb")  # noqa: SIM115
    if kind == "beat":
        args = ["-A", "config", "beat", "-S", "executions.beat:TriggerBeatScheduler",
                "--pidfile=", "--schedule", str(log_dir / f"beat-{index}.db")]  # fmt: skip
    else:
        args = ["-A", "bench.polling_worker", "worker", "-Q", POLL_QUEUE, "--pool", pool,
                "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--hostname", f"bench-{index}@%h"]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "celery", *args, "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds so far of each of these processes and their descendants, by pid."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                times = p.cpu_times()
                found[p.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """Between two snapshots; a process that ended in between is not counted (PostgreSQL
    backends live as long as their connections, which the workers keep)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def postgres_pids() -> list[int]:
    """The PostgreSQL server's main process (its backends are its children)."""
    found = {p.pid: p.info["ppid"] for p in psutil.process_iter(["name", "ppid"])
             if p.info["name"] in ("postgres", "postmaster")}  # fmt: skip
    return [pid for pid, parent in found.items() if parent not in found]


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--item-every", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    log_dir = ROOT / "var" / "bench" / "polling"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*"):
        old.unlink()
    env = environment(
        DATABASE,
        broker=BROKER,
        CELERY_QUEUE=RUN_QUEUE,
        POLLING_QUEUE=POLL_QUEUE,
        ALLOW_PRIVATE_OUTBOUND="1",
        # The sweeper must not re-enqueue: no agent runs, executions stay pending on purpose.
        EXECUTION_SWEEP_INTERVAL_SECONDS="100000",
        # No agent runs: every stored execution is dispatched (fair dispatch would otherwise
        # stop at EXECUTION_MAX_IN_FLIGHT unfinished ones).
        EXECUTION_MAX_IN_FLIGHT="100000000",
        BENCH_POLL_LOG=str(log_dir),
    )
    recreate_database(DATABASE)
    migrate(env)
    django_setup(env)
    port = 18000 + os.getpid() % 1000
    ids = create_triggers(args.n, port)
    t0 = time.time() - BACKLOG * args.item_every  # every feed has its backlog
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(t0), str(args.n),
         str(args.item_every), str(log_dir / "requests.json")], cwd=ROOT,
    )  # fmt: skip
    collector = Collector()
    collector.start()
    beats = [start("beat", env, log_dir, i) for i in range(2)]
    workers = [
        start("worker", env, log_dir, i, args.concurrency, args.pool) for i in range(args.workers)
    ]
    try:
        window, used = run(args, ids, log_dir, server, beats, workers)
    finally:  # never leave a Beat or a worker behind
        for process in [*beats, *workers]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        if server.poll() is None:
            server.kill()
    collector.running = False
    collector.join()
    report(args, ids, window, log_dir, collector.messages, used)


def run(args, ids, log_dir, server, beats, workers) -> tuple[tuple, dict]:
    """Arm the triggers, measure the window, then stop: Beats first, workers once the poll
    queue is empty, the feed server last (it writes its log)."""
    time.sleep(8)  # start-up
    begin = datetime.now(tz=UTC).replace(microsecond=0) + timedelta(seconds=3)
    arm(ids, begin)
    window = (
        begin + timedelta(seconds=INTERVAL),
        begin + timedelta(seconds=INTERVAL * (1 + args.minutes)),
    )
    print(f"{args.n:,} polling triggers (half RSS, half JSON) every {INTERVAL} s; an item per feed "
          f"every {args.item_every:g} s; warm-up from {begin:%H:%M:%S}, measured "
          f"{window[0]:%H:%M:%S}-{window[1]:%H:%M:%S} UTC; logs in {log_dir}")  # fmt: skip
    time.sleep(max(0.0, (window[0] - datetime.now(tz=UTC)).total_seconds()))
    groups = {"Beats": [b.pid for b in beats], "workers": [w.pid for w in workers],
              "feed server": [server.pid], "PostgreSQL": postgres_pids()}  # fmt: skip
    before = {name: cpu(pids) for name, pids in groups.items()}
    time.sleep(max(0.0, (window[1] - datetime.now(tz=UTC)).total_seconds()))
    used = {name: cpu_used(before[name], cpu(pids)) for name, pids in groups.items()}
    time.sleep(10)  # the polls due at the end of the window start
    stop_all(beats)
    queue = redis.Redis.from_url(BROKER)
    deadline = time.monotonic() + 300
    while queue.llen(POLL_QUEUE) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # the last polls finish
    stop_all(workers)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    time.sleep(2)
    return window, used


def report(args, ids, window, log_dir: Path, messages: Counter, used: dict) -> None:
    from executions.models import Execution

    starts = []
    for path in log_dir.glob("starts-*.log"):
        for line in path.read_text().splitlines():
            trigger_id, due, started = line.split(" ")
            starts.append((int(trigger_id), datetime.fromisoformat(due), float(started)))
    measured = [(t, due, s) for t, due, s in starts if window[0] <= due < window[1]]
    lags = [s - due.timestamp() for _, due, s in measured]
    per_poll = Counter((t, due) for t, due, _ in measured)
    expected_polls = len(ids) * args.minutes
    index = {pk: rank for rank, pk in enumerate(ids)}  # trigger id -> feed i
    requests = json.loads((log_dir / "requests.json").read_text())
    by_feed = defaultdict(list)
    for i, _, newest, _ in requests:
        by_feed[i].append(newest)
    expected = {
        (i, f"{i}-{k}") for i, shown in by_feed.items() for k in range(shown[0] + 1, max(shown) + 1)
    }
    rows = list(Execution.objects.values_list("trigger_id", "idempotency_key", "execution_id"))
    fired = Counter((index[t], key) for t, key, _ in rows)
    twice = sum(c - 1 for c in per_poll.values())
    not_modified = sum(1 for r in requests if r[3] == 304)
    duplicated = sum(c - 1 for c in fired.values()) + sum(c - 1 for c in messages.values())
    never_enqueued = sum(1 for *_, e in rows if str(e) not in messages)
    print(f"\n  poll start lag after due ({len(lags):,} polls due in the measured minutes): "
          f"p50 {statistics.median(lags):.3f} s, p99 {percentile(lags, 0.99):.3f} s, "
          f"max {max(lags):.3f} s")  # fmt: skip
    print(f"  polls: expected {expected_polls:,}, started {len(per_poll):,}, missed "
          f"{expected_polls - len(per_poll):,}, polled twice {twice}; feed answers "
          f"{len(requests):,} ({not_modified:,} of them 304)")  # fmt: skip
    print(f"  items: expected {len(expected):,}, fired {len(fired):,}, missed "
          f"{len(expected - set(fired)):,}, duplicated {duplicated}, unexpected "
          f"{len(set(fired) - expected):,}, stored, never enqueued {never_enqueued}")  # fmt: skip
    minutes = args.minutes
    print("  CPU seconds over the measured minutes: "
          + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items())
          + f" (of {minutes * 60 * psutil.cpu_count()} on {psutil.cpu_count()} vCPUs)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        port, t0, n, every, log_path = sys.argv[2:7]
        serve(int(port), float(t0), int(n), float(every), log_path)
    else:
        main()
