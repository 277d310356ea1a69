"""Through the workers: due dry_run executions against bare Celery no-op tasks.

    .venv/bin/python bench/worker.py [--n 100000] [--concurrency 2] [--batch-sizes 16,1]

One ``celery worker --concurrency 2`` (two pool processes, as bin/run starts it) on PostgreSQL
(database ``bench_worker``) and Redis (db 11). First the baseline: N messages of a task that
does nothing (``bench.noop``, acked late like a run message) pushed onto the run queue,
timed until the queue and the broker's unacked set are empty. Then N due dry_run executions
stored pending over 100 triggers of one tenant and handed out by the dispatcher as the
service does (passes after each finished run message, plus this process's periodic pass
every second, standing in for Beat's), timed from the first pass until all are completed —
once per ``--batch-sizes`` value (EXECUTION_RUN_BATCH_SIZE, a fresh worker and N fresh
executions each time; 16 is the default, 1 one execution per message). Prints the rates
and their ratios to the baseline (issue goal: at least 0.5).
"""

import argparse
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from _shared import ROOT, django_setup, environment, migrate, recreate_database, stop_group

DATABASE = "bench_worker"
BROKER = "redis://127.0.0.1:6379/11"
QUEUE = "bench-worker"


# No LOG_LEVEL: the service's own default.
ENV = environment(
    DATABASE, broker=BROKER, log_level=None, CELERY_QUEUE=QUEUE, EXECUTION_RUNNER="dry_run"
)


def start_worker(concurrency: int, log_path: Path, batch_size: int) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - the worker's for its lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.worker_app", "worker", "--loglevel",
         "WARNING", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=ROOT, env={**ENV, "EXECUTION_RUN_BATCH_SIZE": str(batch_size)}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = redis.Redis.from_url(BROKER)
    deadline = time.monotonic() + 60
    while not client.keys("_kombu.binding.*") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the pool processes fork and connect
    return process


def bare_tasks(n: int) -> float:
    """Seconds for the worker to run ``n`` no-op tasks."""
    from bench.worker_app import app
    from executions.run_messages import RunMessageFormat

    message_format = RunMessageFormat.from_celery(app, "bench.noop")
    client = redis.Redis.from_url(BROKER)
    messages = [message_format.encode(str(uuid.uuid4())) for _ in range(n)]
    started = time.monotonic()
    for i in range(0, n, 5000):
        client.lpush(QUEUE, *messages[i : i + 5000])
    while client.llen(QUEUE) or client.hlen("unacked"):
        time.sleep(0.02)
    return time.monotonic() - started


def store_due_executions(n: int) -> None:
    from accounts.services import tenant_member_ensure
    from executions.inserts import insert_executions
    from triggers.models import Trigger

    tenant = tenant_member_ensure(username="bench", tenant_id="bench", role="owner").tenant
    triggers = []
    for i in range(100):
        trigger = Trigger(
            tenant=tenant, name=f"bench {i}", provider_id="builtin",
            provider_trigger_id="webhook", overlap_policy="allow", max_retries=0,
        )  # fmt: skip
        trigger.public_id = str(trigger.uuid)
        triggers.append(trigger)
    Trigger.objects.bulk_create(triggers)
    for start in range(0, n, 10000):
        insert_executions(
            [
                {
                    "execution_id": uuid.uuid4(),
                    "tenant_id": tenant.pk,
                    "trigger_id": triggers[i % 100].pk,
                    "execution_type": "webhook",
                    "input_data": {"n": i},
                    "max_retries": 0,
                }
                for i in range(start, min(n, start + 10000))
            ]
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE executions_execution")


def executions(n: int, already_completed: int) -> float:
    """Seconds for the worker to complete ``n`` due dry_run executions."""
    from django.db import connection

    from executions import dispatch

    stop = threading.Event()

    def periodic_pass() -> None:  # Beat's dispatch-executions, every second
        while not stop.wait(1.0):
            dispatch.dispatch_waiting()
        connection.close()

    started = time.monotonic()
    dispatch.dispatch_waiting()
    threading.Thread(target=periodic_pass, daemon=True).start()
    try:
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM executions_execution WHERE status = 'completed'"
                )
                if cursor.fetchone()[0] >= already_completed + n:
                    return time.monotonic() - started
            time.sleep(0.2)
    finally:
        stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-sizes", default="16,1")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    recreate_database(DATABASE)
    migrate(ENV)
    django_setup(ENV)
    from django.conf import settings

    redis.Redis.from_url(BROKER).flushdb()
    log_dir = ROOT / "var" / "bench-worker"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "worker.log").unlink(missing_ok=True)
    worker = start_worker(args.concurrency, log_dir / "worker.log", batch_sizes[0])
    try:
        bare = bare_tasks(args.n)
    finally:
        stop_group(worker, seconds=30)
    print(f"bare Celery no-op tasks: {args.n} in {bare:.1f} s = {args.n / bare:,.0f}/s")
    for phase, batch_size in enumerate(batch_sizes):
        store_due_executions(args.n)
        settings.EXECUTION_RUN_BATCH_SIZE = batch_size  # this process's passes
        worker = start_worker(args.concurrency, log_dir / "worker.log", batch_size)
        try:
            ours = executions(args.n, already_completed=phase * args.n)
        finally:
            stop_group(worker, seconds=30)
        print(
            f"dry_run executions, EXECUTION_RUN_BATCH_SIZE={batch_size}: {args.n} in {ours:.1f} s"
            f" = {args.n / ours:,.0f}/s; ratio to bare {bare / ours:.2f} (goal >= 0.5)"
        )


if __name__ == "__main__":
    main()
