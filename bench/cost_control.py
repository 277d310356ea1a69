"""Debounce and throttle end to end: a burst through gunicorn, a real worker and a real Beat.

    .venv/bin/python bench/cost_control.py [--burst 1000] [--period 5] [--connections 16]
                                           [--throttled 25] [--limit 10] [--window 60]
                                           [--watch SECONDS]

Creates the database ``bench_cost_control`` (dropped first) with two webhook triggers, and
runs the service as bin/run does in production: gunicorn, a Celery worker on the run, agent
and control queues (the periodic dispatch pass runs there) and a Beat
(``executions.beat:TriggerBeatScheduler``, which schedules that pass every 2 s).

1. Debounce: ``--burst`` deliveries on one key (``customer``) to a trigger with a
   ``--period`` s trailing debounce, ``--connections`` at a time; the last one is sent alone
   once every other was answered, so "the last payload" is well defined. Waits until the run
   completed and a further period passed, then prints how many executions the trigger has
   (1 expected), the count the run carries (the burst) and whose payload it ran (the last).
2. Throttle: ``--throttled`` deliveries at once to a trigger with a throttle of ``--limit``
   per ``--window`` s. Prints how many started within the first window (``--limit``
   expected), waits until all ran (drained), then how many ran in all (none lost) and how many
   started in each window. With ``--watch`` it watches that many seconds instead (1,000
   deliveries at 10 a minute drain in 100 minutes) and counts the rest where they wait:
   stored, pending, their slots in order.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from _shared import (
    ROOT,
    django_setup,
    environment,
    migrate,
    recreate_database,
    stop_group,
    wait_until_serving,
)

DATABASE = "bench_cost_control"
BROKER = "redis://127.0.0.1:6379/9"
PORT = 8091
QUEUE = "bench-cost-control"
ENV = environment(
    DATABASE,
    broker=BROKER,
    DATABASE_CONN_MAX_AGE="600",
    CELERY_QUEUE=QUEUE,
    ALLOWED_HOSTS="127.0.0.1",
)


def start(kind: str, log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{kind}.log", "wb")  # noqa: SIM115 - the process's, closed with it
    if kind == "gunicorn":
        command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind",
                   f"127.0.0.1:{PORT}", "--workers", "3", "--log-level", "warning"]  # fmt: skip
    elif kind == "beat":
        command = [sys.executable, "-m", "celery", "-A", "config", "beat", "-S",
                   "executions.beat:TriggerBeatScheduler", "--pidfile=",
                   "--schedule", str(log_dir / "beat.db"), "--loglevel", "WARNING"]  # fmt: skip
    else:
        queues = f"{QUEUE},{QUEUE}-control,{QUEUE}-agents"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
                   "--concurrency", "2", "--without-gossip", "--without-mingle",
                   "--without-heartbeat", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env={**ENV, "CELERY_AGENT_QUEUE": f"{QUEUE}-agents"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def deliver(token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/hooks/{token}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def wait(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"Not within {seconds} s: {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--period", type=int, default=5, help="the debounce's quiet period")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--throttled", type=int, default=25, help="deliveries to throttle")
    parser.add_argument("--limit", type=int, default=10, help="throttle: runs per window")
    parser.add_argument("--window", type=int, default=60, help="throttle: window in seconds")
    parser.add_argument(
        "--watch", type=int, default=0,
        help="throttle: watch this many seconds instead of draining every run (a burst of "
        "1,000 at 10 a minute drains in 100 minutes); the rest is counted where it waits",
    )  # fmt: skip
    args = parser.parse_args()

    recreate_database(DATABASE)
    migrate(ENV)
    subprocess.run(["redis-cli", "-n", "9", "flushdb"], capture_output=True, check=False)
    django_setup(ENV)
    from accounts.services import tenant_member_ensure
    from executions.choices import ExecutionStatus
    from executions.models import Execution
    from triggers.services import trigger_create

    member = tenant_member_ensure(username="bench", tenant_id="bench", role="owner")
    debounced = trigger_create(
        tenant=member.tenant, provider_trigger_id="webhook", name="debounced",
        config={"debounce": {"key": "customer", "period_seconds": args.period}},
    )  # fmt: skip
    throttled = trigger_create(
        tenant=member.tenant, provider_trigger_id="webhook", name="throttled",
        config={"throttle": {"limit": args.limit, "period_seconds": args.window}},
    )  # fmt: skip

    log_dir = Path(tempfile.mkdtemp(prefix="bench-cost-control-"))
    processes = [start(kind, log_dir) for kind in ("gunicorn", "worker", "beat")]
    try:
        wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=30, name="gunicorn")

        # 1. The debounced burst.
        token = debounced.webhook_endpoint.token
        started = time.monotonic()
        with ThreadPoolExecutor(args.connections) as pool:
            answers = list(
                pool.map(
                    lambda n: deliver(token, {"customer": "c1", "n": n}), range(args.burst - 1)
                )
            )
        answers.append(deliver(token, {"customer": "c1", "n": args.burst - 1}))
        sent_seconds = time.monotonic() - started
        statuses = sorted({status for status, _ in answers})
        runs = Execution.objects.filter(trigger=debounced)
        wait(
            lambda: runs.filter(status=ExecutionStatus.COMPLETED).exists(),
            seconds=args.period + 120, what="the debounced run completed",
        )  # fmt: skip
        time.sleep(args.period + 3)  # nothing more may come of the burst
        executions = list(runs)
        run = executions[0]
        print(
            f"debounce: {args.burst} deliveries on one key in {sent_seconds:.1f} s "
            f"({args.connections} connections, answers {statuses}), trailing {args.period} s"
        )
        print(
            f"  executions of the trigger: {len(executions)}; the run's delivery_count: "
            f"{run.delivery_count}; its payload's n: {run.input_data['payload']['n']} "
            f"(last sent: {args.burst - 1}); status: {run.status}; it became due "
            f"{(run.available_at - run.created_at).total_seconds():.1f} s after the first "
            f"delivery and started {(run.started_at - run.available_at).total_seconds():.2f} s "
            "after it was due"
        )

        # 2. The throttled burst.
        token = throttled.webhook_endpoint.token
        with ThreadPoolExecutor(args.connections) as pool:
            answers = list(pool.map(lambda n: deliver(token, {"n": n}), range(args.throttled)))
        first_answer = time.monotonic()
        statuses = sorted({status for status, _ in answers})
        runs = Execution.objects.filter(trigger=throttled)
        first = runs.order_by("available_at").first().available_at
        window = timedelta(seconds=args.window)
        if args.watch:
            time.sleep(max(0.0, args.watch - (time.monotonic() - first_answer)))
            stored = list(runs.order_by("available_at", "id"))
            started = [e for e in stored if e.started_at is not None]
            waiting = [e for e in stored if e.status == ExecutionStatus.PENDING]
            slots = [e.available_at for e in waiting]
            print(
                f"throttle: {args.throttled} deliveries at once (answers {statuses}), "
                f"{args.limit} per {args.window} s, watched {args.watch} s"
            )
            print(
                f"  started in the first {args.window} s: "
                f"{sum(e.started_at < first + window for e in started)}; started in all: "
                f"{len(started)}; stored: {len(stored)} of {args.throttled} answered "
                f"{sum(200 <= status < 300 for status, _ in answers)} 2xx; waiting: "
                f"{len(waiting)}, slots in order: {slots == sorted(slots)}, the last due "
                f"{(slots[-1] - first).total_seconds() / 60 if slots else 0:.1f} min after the "
                f"first; none before its slot: "
                f"{all(e.started_at >= e.available_at for e in started)}"
            )
            return
        wait(
            lambda: runs.filter(status=ExecutionStatus.COMPLETED).count() >= args.throttled,
            seconds=args.window * (args.throttled // args.limit + 2),
            what="every throttled run completed",
        )  # fmt: skip
        executions = list(runs.order_by("started_at"))
        per_window: dict[int, int] = {}
        for execution in executions:
            index = int((execution.started_at - first) / window)
            per_window[index] = per_window.get(index, 0) + 1
        print(
            f"throttle: {args.throttled} deliveries at once (answers {statuses}), "
            f"{args.limit} per {args.window} s"
        )
        print(
            f"  started in the first {args.window} s: {per_window.get(0, 0)}; ran in all "
            f"after draining: {len(executions)} of {args.throttled} (completed: "
            f"{sum(e.status == ExecutionStatus.COMPLETED for e in executions)}); "
            f"started per window: {[per_window.get(i, 0) for i in range(max(per_window) + 1)]}; "
            f"none before its slot: {all(e.started_at >= e.available_at for e in executions)}"
        )
    finally:
        for process in processes:
            stop_group(process, seconds=15)
        print(f"logs: {log_dir}")


if __name__ == "__main__":
    main()
