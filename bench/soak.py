"""Fair execution under load: one tenant floods its webhooks, another's cron and webhooks
must still start on time (issue 21), on PostgreSQL + Redis.

    .venv/bin/python bench/soak.py [--minutes 4] [--flood-connections 8] [--cron 2000]
                                   [--per-minute 230] [--trickle 2]

Creates the database ``bench_soak`` (dropped first) and runs the service as bin/run does in
production: gunicorn (3 workers), one Celery worker (concurrency 2, the run and control
queues), one Beat (TriggerBeatScheduler), EXECUTION_RUNNER dry_run. Two tenants:

- ``flood``: 20 webhook triggers, POSTed to as fast as the service takes them, by
  ``--flood-connections`` concurrent loops (asyncio, a new connection per request: gunicorn's
  sync workers close each one);
- ``calm``: ``--cron`` cron triggers of which ``--per-minute`` fire every minute (the others
  daily, hours away), with the default overlap policy ``skip``, and 2 webhook triggers
  receiving ``--trickle`` requests a second each.

For ``--minutes`` (from a minute boundary), then prints: intake and completion rates; the
calm tenant's cron executions' start lag (slot -> started) and webhook executions' start
lag (stored at receipt -> started), p50/p99/max; cron slots cancelled for overlap; lost
and duplicated (every 2xx's execution exactly once; every per-minute slot exactly once);
what the sweeper re-published; the backlog left.
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

from _shared import (
    ROOT,
    django_setup,
    environment,
    migrate,
    percentile,
    recreate_database,
    stop_group,
    wait_until_serving,
)

DATABASE = "bench_soak"
BROKER = "redis://127.0.0.1:6379/10"
QUEUE = "bench-soak"
PORT = 8078
BODY = json.dumps({"action": "opened", "issue": {"number": 1347, "title": "Found a bug"}})
LOGS = ROOT / "var" / "bench-soak"

ENV = environment(
    DATABASE,
    broker=BROKER,
    DATABASE_CONN_MAX_AGE="600",
    CELERY_QUEUE=QUEUE,
    ALLOWED_HOSTS="127.0.0.1",
    EXECUTION_RUNNER="dry_run",
    SCHEDULER_MAX_SLEEP_SECONDS="1",
    EXECUTION_SWEEP_INTERVAL_SECONDS="10",
)


def prepare(cron: int, per_minute: int) -> tuple[list[str], list[str]]:
    """A fresh database; returns the webhook tokens (flood's, calm's)."""
    recreate_database(DATABASE)
    migrate(ENV)
    django_setup(ENV)
    from accounts.services import tenant_member_ensure
    from triggers.models import Trigger
    from triggers.schedule import next_fire_after
    from triggers.services import trigger_create

    flood = tenant_member_ensure(username="flood", tenant_id="flood", role="owner")
    calm = tenant_member_ensure(username="calm", tenant_id="calm", role="owner")

    def hooks(member, n):
        return [
            trigger_create(
                tenant=member.tenant, provider_trigger_id="webhook", name=f"hook {i}",
                created_by=member.user, message_template="{{ body.action }}",
            ).webhook_endpoint.token
            for i in range(n)
        ]  # fmt: skip

    now = datetime.now(tz=UTC)
    rows = []
    for i in range(cron):
        expression = "* * * * *" if i < per_minute else f"{i % 60} {(now.hour + 12) % 24} * * *"
        trigger = Trigger(
            tenant=calm.tenant, created_by=calm.user, name=f"cron {i}", provider_id="builtin",
            provider_trigger_id="cron", cron_expression=expression, timezone="UTC",
            next_fire_at=next_fire_after(expression, "UTC", now),
        )  # fmt: skip
        trigger.public_id = str(trigger.uuid)
        rows.append(trigger)
    Trigger.objects.bulk_create(rows, batch_size=2000)
    return hooks(flood, 20), hooks(calm, 2)


def start(name: str, command: list[str]) -> subprocess.Popen:
    log = open(LOGS / f"{name}.log", "wb")  # noqa: SIM115 - the process's, for its lifetime
    return subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def start_service() -> list[subprocess.Popen]:
    venv = ROOT / ".venv/bin"
    processes = [
        start("gunicorn", [str(venv / "gunicorn"), "config.wsgi", "--bind",
                           f"127.0.0.1:{PORT}", "--workers", "3", "--log-level", "warning"]),
        start("worker", [str(venv / "celery"), "-A", "config", "worker", "--loglevel",
                         "WARNING", "--concurrency", "2", "--without-gossip",
                         "--without-mingle", "--without-heartbeat"]),
        start("beat", [str(venv / "celery"), "-A", "config", "beat", "--scheduler",
                       "executions.beat:TriggerBeatScheduler", "--loglevel", "INFO",
                       "--pidfile=", "--schedule", str(LOGS / "beat-schedule.db")]),
    ]  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=60, name="gunicorn")
    return processes


async def post(path: str, method: str = "POST") -> tuple[int, bytes]:
    """One request on a connection of its own; (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    try:
        body = BODY.encode() if method == "POST" else b""
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, await reader.readexactly(length) if length else await reader.read()
    finally:
        writer.close()


def _execution_id(body: bytes) -> str | None:
    try:
        return json.loads(body).get("execution_id")
    except ValueError:
        return None


async def load(flood, calm, *, until: float, connections: int, trickle: float) -> dict:
    answered = {"flood": [], "calm": [], "refused": 0, "errors": 0}

    async def flooder(n: int) -> None:
        i = n
        while time.monotonic() < until:
            i += connections
            try:
                status, body = await post(f"/hooks/{flood[i % len(flood)]}")
            except OSError:
                answered["errors"] += 1
                continue
            if 200 <= status < 300:
                answered["flood"].append(_execution_id(body))
            else:
                answered["refused"] += 1

    async def trickler(token: str) -> None:
        while time.monotonic() < until:
            sent = time.monotonic()
            try:
                status, body = await post(f"/hooks/{token}")
                if 200 <= status < 300:
                    answered["calm"].append(_execution_id(body))
                else:
                    answered["refused"] += 1
            except OSError:
                answered["errors"] += 1
            await asyncio.sleep(max(0.0, 1 / trickle - (time.monotonic() - sent)))

    await asyncio.gather(
        *(flooder(n) for n in range(connections)), *(trickler(token) for token in calm)
    )
    return answered


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {statistics.median(values):.2f} s, p99 {percentile(values, 0.99):.2f} s, "
        f"max {max(values):.2f} s "
        f"(n={len(values)})"
    )


def report(answered: dict, start_at: datetime, end_at: datetime, per_minute: int) -> None:
    from django.db.models import Count, F

    from executions.models import Execution

    seconds = (end_at - start_at).total_seconds()
    in_window = Execution.objects.filter(created_at__gte=start_at, created_at__lt=end_at)
    completed = Execution.objects.filter(
        completed_at__gte=start_at, completed_at__lt=end_at, status="completed"
    ).count()
    print(f"\nload {seconds:.0f} s, from {start_at:%H:%M:%S} UTC")
    print(
        f"intake: flood {len(answered['flood'])} webhooks answered 2xx "
        f"({len(answered['flood']) / seconds:.0f}/s), calm {len(answered['calm'])}; "
        f"refused {answered['refused']}, connection errors {answered['errors']}"
    )
    print(f"completed during the load: {completed} ({completed / seconds:.0f}/s)")

    calm_cron = Execution.objects.filter(
        tenant_id="calm", execution_type="scheduled", scheduled_for__gte=start_at,
        scheduled_for__lt=end_at - timedelta(seconds=5),
    )  # fmt: skip
    started = calm_cron.filter(started_at__isnull=False)
    cron_lags = [
        (s - f).total_seconds() for s, f in started.values_list("started_at", "scheduled_for")
    ]
    print(
        f"calm cron, slot -> started: {percentiles(cron_lags)}; "
        f"not started: {calm_cron.filter(started_at__isnull=True).count()}"
    )
    calm_hooks = in_window.filter(tenant_id="calm", execution_type="webhook")
    hook_lags = [
        (s - c).total_seconds()
        for s, c in calm_hooks.filter(started_at__isnull=False).values_list(
            "started_at", "created_at"
        )
    ]
    print(
        f"calm webhooks, received -> started: {percentiles(hook_lags)}; "
        f"not started: {calm_hooks.filter(started_at__isnull=True).count()}"
    )
    overlap = Execution.objects.filter(
        status="cancelled", error_message__startswith="Not run: An earlier execution is still"
    )
    print(
        f"cron slots cancelled for overlap: {overlap.count()} "
        f"(calm {overlap.filter(tenant_id='calm').count()})"
    )

    ids = [i for i in answered["flood"] + answered["calm"] if i]
    stored = set()
    for chunk in range(0, len(ids), 5000):
        stored.update(
            str(i)
            for i in Execution.objects.filter(
                execution_id__in=ids[chunk : chunk + 5000]
            ).values_list("execution_id", flat=True)
        )
    duplicated_answers = len(ids) - len(set(ids))
    print(
        f"webhooks: {len(ids)} 2xx, {len(set(ids) - stored)} lost, "
        f"{duplicated_answers} duplicated answers"
    )
    first_slot = start_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = int((end_at - first_slot).total_seconds() // 60) + 1
    slots = Execution.objects.filter(
        tenant_id="calm", execution_type="scheduled", scheduled_for__gte=first_slot,
        scheduled_for__lt=first_slot + timedelta(minutes=minutes),
    )  # fmt: skip
    per_slot = slots.values("trigger_id", "scheduled_for").annotate(n=Count("id"))
    duplicated = sum(1 for row in per_slot if row["n"] > 1)
    expected = per_minute * minutes
    print(
        f"cron slots {first_slot:%H:%M}..+{minutes} min: {len(per_slot)} of {expected} stored "
        f"({expected - len(per_slot)} missed), {duplicated} duplicated"
    )
    sweeps = (
        (LOGS / "beat.log").read_text(errors="replace").count("Sending due task sweep-executions")
    )
    republished = sum(
        int(line.split("Sweeper: ")[1].split()[0])
        for line in (LOGS / "worker.log").read_text(errors="replace").splitlines()
        if "Sweeper: " in line
    )
    print(f"sweeps sent: {sweeps}; run messages the sweeper re-published: {republished}")
    pending = Execution.objects.filter(status="pending")
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    waits = Execution.objects.filter(started_at__gte=start_at, started_at__lt=end_at).annotate(
        wait=F("started_at") - F("available_at")
    )
    flood_waits = [w.total_seconds() for w in waits.filter(tenant_id="flood").values_list(
        "wait", flat=True
    )]  # fmt: skip
    print(
        f"flood queue wait (stored -> started): {percentiles(flood_waits)}; "
        f"pending at the end: {pending.count()}"
        + (f", the oldest {(end_at - oldest).total_seconds():.0f} s old" if oldest else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--flood-connections", type=int, default=8)
    parser.add_argument("--cron", type=int, default=2000)
    parser.add_argument("--per-minute", type=int, default=230)
    parser.add_argument("--trickle", type=float, default=2, help="requests/s per calm webhook")
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    flood, calm = prepare(args.cron, args.per_minute)
    processes = start_service()
    try:
        # Start a few seconds after a minute boundary, so the first slots meet the load.
        wait = 60 - time.time() % 60 + 5
        print(f"service up; the load starts in {wait:.0f} s")
        time.sleep(wait)
        start_at = datetime.now(tz=UTC)
        until = time.monotonic() + args.minutes * 60
        answered = asyncio.run(
            load(flood, calm, until=until, connections=args.flood_connections,
                 trickle=args.trickle)
        )  # fmt: skip
        end_at = datetime.now(tz=UTC)
        time.sleep(5)  # the last slots and trickle webhooks start
        report(answered, start_at, end_at, args.per_minute)
    finally:
        for process in processes:
            with_group = threading.Thread(
                target=stop_group, args=(process,), kwargs={"seconds": 15}
            )
            with_group.start()
            with_group.join()


if __name__ == "__main__":
    main()
