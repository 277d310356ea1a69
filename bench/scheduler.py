"""Cron firing at scale: our scheduler against django-celery-beat, on PostgreSQL + Redis.

    .venv/bin/python bench/scheduler.py --n 100000 --minutes 3 [--only ours|celery-beat]

Creates N enabled cron triggers in the database ``bench_scheduler``, each ``M * * * *`` with
M = i mod 60 (N/60 fire at the top of every minute), and runs two schedulers at once — two
``celery beat -S executions.beat:TriggerBeatScheduler`` processes — from one minute boundary
for ``--minutes`` full minutes. No worker runs: a collector pops the Celery messages off the
Redis queue as they arrive and records when each execution was stored-and-enqueued (visible
in the broker). It prints the firing lag from slot to that moment (p50, p99, max), the lag to
the stored row (``created_at``), duplicates, missed slots and the schedulers' CPU seconds.

Then the same N as django-celery-beat PeriodicTasks (crontab ``M * * * *``), run by two Beats
with django-celery-beat's own DatabaseScheduler, measured the same way (slot to message).

    .venv/bin/python bench/scheduler.py --n 1000000 --herd 100000 [--reuse]

The herd: of N triggers, H share one slot (a minute boundary 40-100 s after the triggers
are ready; the others are daily, due hours later). Prints the lag from that slot to
each stored-and-enqueued execution, duplicates and misses, each Beat's peak resident memory
and how long each took from its start to its first pass (its first heartbeat). Baseline in
the same run: the floor of that work, the H rows stored with ``bulk_create`` in batches of
SCHEDULER_BATCH_SIZE and their run messages pushed, by one process that decides nothing.
``--reuse`` keeps the previous herd run's database (creating a million triggers takes minutes)
and makes its first H triggers the herd again.
"""

import argparse
import base64
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import redis
from _shared import (
    PG,
    ROOT,
    django_setup,
    environment,
    migrate,
    percentile,
    recreate_database,
)

DATABASE = "bench_scheduler"
BROKER = "redis://127.0.0.1:6379/12"
QUEUE = "bench-scheduler"

ENV = environment(
    DATABASE,
    broker=BROKER,
    CELERY_QUEUE=QUEUE,
    SCHEDULER_MAX_SLEEP_SECONDS="1",
    # The sweeper must not re-enqueue: no worker runs, executions stay pending on purpose.
    EXECUTION_SWEEP_INTERVAL_SECONDS="100000",
    # No worker finishes anything: every stored execution is dispatched (fair dispatch's
    # bound on those in flight would otherwise stop at 64), as the scheduler published
    # them all before it.
    EXECUTION_MAX_IN_FLIGHT="100000000",
)


def create_triggers(n: int) -> None:
    """Bulk insert: trigger_create one by one would take minutes for 100,000. The rows are
    what trigger_create stores for a cron trigger; next_fire_at comes from the same
    schedule.next_fire_after."""
    from accounts.services import tenant_member_ensure
    from triggers.models import Trigger
    from triggers.schedule import next_fire_after

    tenant = tenant_member_ensure(username="bench", tenant_id="bench", role="owner").tenant
    now = datetime.now(tz=UTC)
    next_by_minute = {m: next_fire_after(f"{m} * * * *", "UTC", now) for m in range(60)}
    batch = []
    for i in range(n):
        trigger = Trigger(
            tenant=tenant, name=f"bench {i}", provider_id="builtin", provider_trigger_id="cron",
            cron_expression=f"{i % 60} * * * *", timezone="UTC", overlap_policy="allow",
            next_fire_at=next_by_minute[i % 60],
        )  # fmt: skip
        trigger.public_id = str(trigger.uuid)
        batch.append(trigger)
        if len(batch) == 5000:
            Trigger.objects.bulk_create(batch)
            batch = []
    Trigger.objects.bulk_create(batch)


def create_herd(n: int, herd: int, slot: datetime) -> None:
    """``herd`` triggers due at ``slot`` (cron ``M * * * *``), the other n - herd daily 12
    hours later, as bulk rows (see create_triggers), made by a user as the APIs' are."""
    from accounts.services import tenant_member_ensure
    from triggers.models import Trigger
    from triggers.schedule import next_fire_after

    member = tenant_member_ensure(username="bench", tenant_id="bench", role="owner")
    tenant, user = member.tenant, member.user
    later = (slot + timedelta(hours=12)).hour
    calm = {m: next_fire_after(f"{m} {later} * * *", "UTC", slot) for m in range(60)}
    batch = []
    for i in range(n):
        in_herd = i < herd
        trigger = Trigger(
            tenant=tenant, name=f"bench {i}", provider_id="builtin", provider_trigger_id="cron",
            cron_expression=f"{slot.minute} * * * *" if in_herd else f"{i % 60} {later} * * *",
            timezone="UTC", overlap_policy="allow", created_by=user, updated_by=user,
            next_fire_at=slot if in_herd else calm[i % 60],
        )  # fmt: skip
        trigger.public_id = str(trigger.uuid)
        batch.append(trigger)
        if len(batch) == 10_000:
            Trigger.objects.bulk_create(batch)
            batch = []
    Trigger.objects.bulk_create(batch)
    subprocess.run(["psql", f"{PG}/{DATABASE}", "-qc", "VACUUM ANALYZE"], check=True)


def create_periodic_tasks(n: int) -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from triggers.models import Trigger

    Trigger.objects.update(status="inactive", next_fire_at=None)
    schedules = {
        m: CrontabSchedule.objects.create(minute=str(m), hour="*", timezone="UTC")
        for m in range(60)
    }
    batch = []
    for i in range(n):
        batch.append(
            PeriodicTask(
                name=f"bench {i}",
                task="bench.noop",
                crontab=schedules[i % 60],
                args=json.dumps([i]),
                queue=QUEUE,
                enabled=True,
            )
        )
        if len(batch) == 5000:
            PeriodicTask.objects.bulk_create(batch)
            batch = []
    PeriodicTask.objects.bulk_create(batch)
    PeriodicTask.objects.update(last_run_at=None)
    from django_celery_beat.models import PeriodicTasks

    PeriodicTasks.update_changed()


class Collector(threading.Thread):
    """Pops every message off the queue and records (execution id, arrival time) for each
    execution its task argument names."""

    def __init__(self):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(BROKER)
        self.client.delete(QUEUE)
        self.arrivals: list[tuple[str, float]] = []
        self.running = True

    def run(self):
        while self.running:
            popped = self.client.brpop([QUEUE], timeout=1)
            if popped is None:
                continue
            self._record(popped[1], time.time())
            # Drain what else is there without blocking, stamped as it is taken.
            while raw := self.client.rpop(QUEUE):
                self._record(raw, time.time())

    def _record(self, raw: bytes, arrived: float) -> None:
        message = json.loads(raw)
        if message["headers"].get("task") not in ("executions.tasks.run_execution", "bench.noop"):
            return  # e.g. the sweeper, which Beat also sends
        args = json.loads(base64.b64decode(message["body"]))[0]
        # One execution id, or a batch of them (fair dispatch's run batches, dispatch.py).
        ids = args[0] if isinstance(args[0], list) else [args[0]]
        self.arrivals.extend((str(execution_id), arrived) for execution_id in ids)


def start_schedulers(count: int, scheduler: str, log_dir: Path) -> list[subprocess.Popen]:
    processes = []
    for index in range(count):
        log = open(log_dir / f"beat-{scheduler.split('.')[0]}-{index}.log", "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--scheduler",
                    scheduler,
                    "--loglevel",
                    "WARNING",
                    "--pidfile=",
                    "--schedule",
                    str(log.name) + ".db",
                ],
                cwd=ROOT,
                env=ENV,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def cpu_seconds(process: subprocess.Popen) -> float:
    proc = psutil.Process(process.pid)
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def run_window(processes, minutes: int) -> tuple[datetime, datetime, list[float]]:
    """Wait for the next minute boundary (warm-up), then ``minutes`` full minutes."""
    now = datetime.now(tz=UTC)
    start = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (start - now).total_seconds() < 20:  # leave start-up time before the first slot
        start += timedelta(minutes=1)
    end = start + timedelta(minutes=minutes)
    time.sleep(max(0.0, (start - datetime.now(tz=UTC)).total_seconds()))
    cpu_before = [cpu_seconds(p) for p in processes]
    # Slots up to ``end - 1 min`` are measured; give the last one a minute to arrive.
    time.sleep(max(0.0, (end - datetime.now(tz=UTC)).total_seconds()) + 5)
    cpu = [cpu_seconds(p) - before for p, before in zip(processes, cpu_before, strict=True)]
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)
    return start, end - timedelta(minutes=1), cpu


def slots(start: datetime, last: datetime) -> list[datetime]:
    return [
        start + timedelta(minutes=k) for k in range(int((last - start).total_seconds() // 60) + 1)
    ]


def expected_firings(n: int, measured: list[datetime]) -> int:
    """Trigger i fires at minute i mod 60: minutes below n mod 60 have one more trigger."""
    return sum(n // 60 + (1 if slot.minute < n % 60 else 0) for slot in measured)


def report(name: str, lags: list[float], extra: dict) -> None:
    print(f"\n{name}")
    if lags:
        print(f"  firing lag, slot -> stored and enqueued: p50 {statistics.median(lags):.3f} s, "
              f"p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s "
              f"({len(lags)} firings)")  # fmt: skip
    for key, value in extra.items():
        print(f"  {key}: {value}")


def bench_ours(n: int, minutes: int, log_dir: Path) -> None:
    from executions.models import Execution

    create_triggers(n)
    collector = Collector()
    collector.start()
    processes = start_schedulers(2, "executions.beat:TriggerBeatScheduler", log_dir)
    start, last, cpu = run_window(processes, minutes)
    collector.running = False
    collector.join()
    arrival: dict[str, float] = {}
    messages = Counter()
    for execution_id, arrived in collector.arrivals:
        messages[execution_id] += 1
        arrival.setdefault(execution_id, arrived)
    measured = Execution.objects.filter(scheduled_for__gte=start, scheduled_for__lte=last)
    rows = list(measured.values_list("execution_id", "trigger_id", "scheduled_for", "created_at"))
    per_slot = Counter((trigger_id, slot) for _, trigger_id, slot, _ in rows)
    lags = [arrival[str(e)] - slot.timestamp() for e, _, slot, _ in rows if str(e) in arrival]
    stored = [(created - slot).total_seconds() for _, _, slot, created in rows]
    expected = expected_firings(n, slots(start, last))
    report(f"ours: TriggerBeatScheduler x2, N={n:,}, slots {start:%H:%M}-{last:%H:%M} UTC", lags, {
        "lag to the stored row (created_at)": (
            f"p50 {statistics.median(stored):.3f} s, p99 {percentile(stored, 0.99):.3f} s, "
            f"max {max(stored):.3f} s" if stored else "-"),
        "expected firings": expected,
        "duplicates": sum(c - 1 for c in per_slot.values() if c > 1)
        + sum(c - 1 for c in messages.values() if c > 1),
        "missed slots": expected - len(per_slot),
        "stored but never enqueued": sum(1 for e, *_ in rows if str(e) not in arrival),
        "scheduler CPU seconds": " + ".join(f"{c:.1f}" for c in cpu) + f" = {sum(cpu):.1f}",
    })  # fmt: skip


def bench_celery_beat(n: int, minutes: int, log_dir: Path) -> None:
    create_periodic_tasks(n)
    collector = Collector()
    collector.start()
    processes = start_schedulers(2, "django_celery_beat.schedulers:DatabaseScheduler", log_dir)
    start, last, cpu = run_window(processes, minutes)
    collector.running = False
    collector.join()
    measured_slots = slots(start, last)
    fired = Counter()
    lags = []
    for task_index, arrived in collector.arrivals:
        minute = int(task_index) % 60
        moment = datetime.fromtimestamp(arrived, tz=UTC)
        slot = moment.replace(minute=minute, second=0, microsecond=0)
        if slot > moment:
            slot -= timedelta(hours=1)
        if start <= slot <= last:
            fired[(task_index, slot)] += 1
            lags.append(arrived - slot.timestamp())
    expected = expected_firings(n, measured_slots)
    report(f"django-celery-beat: DatabaseScheduler x2, N={n:,}", lags, {
        "expected firings": expected,
        "duplicates": sum(c - 1 for c in fired.values() if c > 1),
        "missed slots": expected - len(fired),
        "scheduler CPU seconds": " + ".join(f"{c:.1f}" for c in cpu) + f" = {sum(cpu):.1f}",
    })  # fmt: skip


def herd_floor(herd: int) -> float:
    """Seconds for one process to store ``herd`` pending executions and push their run
    messages, batch by batch, deciding nothing (the herd's baseline); the rows are removed."""
    from django.conf import settings
    from django.db import connection, transaction

    from executions import broker
    from executions.models import Execution
    from triggers.models import Trigger

    ids = list(Trigger.objects.order_by("pk").values_list("pk", "tenant_id")[:herd])
    size = settings.SCHEDULER_BATCH_SIZE
    client = redis.Redis.from_url(BROKER)
    client.delete(QUEUE)
    started = time.perf_counter()
    for offset in range(0, len(ids), size):
        with transaction.atomic():
            rows = [
                Execution(tenant_id=tenant, trigger_id=pk, execution_type="scheduled",
                          input_data={"floor": True}, max_retries=3)
                for pk, tenant in ids[offset : offset + size]
            ]  # fmt: skip
            Execution.objects.bulk_create(rows)
        broker.publish_run_messages([str(row.execution_id) for row in rows])
    elapsed = time.perf_counter() - started
    client.delete(QUEUE)
    # One statement: the ORM's delete would first collect the 100,000 rows' replays.
    with connection.cursor() as cursor:
        cursor.execute("""DELETE FROM executions_execution WHERE input_data @> '{"floor": true}'""")
    return elapsed


class Sampler(threading.Thread):
    """Peak resident memory of each process, sampled every 0.2 s."""

    def __init__(self, processes: list[subprocess.Popen]):
        super().__init__(daemon=True)
        self.processes = [psutil.Process(p.pid) for p in processes]
        self.peak = [0] * len(processes)
        self.running = True

    def run(self):
        while self.running:
            for index, process in enumerate(self.processes):
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.peak[index] = max(self.peak[index], process.memory_info().rss)
            time.sleep(0.2)


def bench_herd(n: int, herd: int, log_dir: Path, *, reuse: bool = False) -> None:
    from django.conf import settings

    from executions.models import Execution, ServiceHeartbeat
    from triggers.models import Trigger

    started = time.perf_counter()
    parked = datetime(2099, 1, 1, tzinfo=UTC)  # the herd's slot until the run starts
    if reuse:  # the first H triggers are the herd (create_herd); the earlier slots' rows stay
        first = Trigger.objects.order_by("pk").values_list("pk", flat=True)[herd - 1]
        Trigger.objects.filter(pk__lte=first).update(next_fire_at=parked)
        calm = datetime(2098, 1, 1, tzinfo=UTC)  # the others: not due during the run
        Trigger.objects.filter(pk__gt=first).exclude(next_fire_at=calm).update(next_fire_at=calm)
        print(f"reused {Trigger.objects.count():,} triggers")
    else:
        create_herd(n, herd, parked)
        print(f"created {n:,} triggers in {time.perf_counter() - started:.0f} s")
    print(f"SCHEDULER_BATCH_SIZE {settings.SCHEDULER_BATCH_SIZE}")
    floor = herd_floor(herd)
    slot = (datetime.now(tz=UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    Trigger.objects.filter(next_fire_at=parked).update(
        cron_expression=f"{slot.minute} * * * *", next_fire_at=slot
    )
    subprocess.run(["psql", f"{PG}/{DATABASE}", "-qc", "VACUUM ANALYZE"], check=True)
    if (slot - datetime.now(tz=UTC)).total_seconds() < 20:
        sys.exit("preparing the slot took too long: no time left to start the Beats")
    collector = Collector()
    collector.start()
    ServiceHeartbeat.objects.all().delete()
    spawned = time.time()
    processes = start_schedulers(2, "executions.beat:TriggerBeatScheduler", log_dir)
    sampler = Sampler(processes)
    sampler.start()
    ready = []
    while len(ready) < len(processes) and time.time() - spawned < 60:
        beats = ServiceHeartbeat.objects.filter(service="scheduler")
        ready = [b.created_at.timestamp() - spawned for b in beats]
        time.sleep(0.05)
    deadline = slot.timestamp() + 60
    while time.time() < deadline and len(collector.arrivals) < herd:
        time.sleep(0.2)
    time.sleep(1)
    cpu = [cpu_seconds(p) for p in processes]
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)
    sampler.running = collector.running = False
    collector.join()
    arrival: dict[str, float] = {}
    messages = Counter()
    for execution_id, arrived in collector.arrivals:
        messages[execution_id] += 1
        arrival.setdefault(execution_id, arrived)
    rows = list(
        Execution.objects.filter(scheduled_for=slot).values_list(
            "execution_id", "trigger_id", "created_at"
        )
    )
    per_trigger = Counter(trigger_id for _, trigger_id, _ in rows)
    lags = [arrival[str(e)] - slot.timestamp() for e, _, _ in rows if str(e) in arrival]
    stored = [(created - slot).total_seconds() for _, _, created in rows]
    report(f"ours, the herd: TriggerBeatScheduler x2, N={n:,}, H={herd:,} at {slot:%H:%M} UTC",
           lags, {
        "lag to the stored row (created_at)": (
            f"p50 {statistics.median(stored):.3f} s, p99 {percentile(stored, 0.99):.3f} s, "
            f"max {max(stored):.3f} s" if stored else "-"),
        "duplicates": sum(c - 1 for c in per_trigger.values() if c > 1)
        + sum(c - 1 for c in messages.values() if c > 1),
        "missed": herd - len(per_trigger),
        "stored but never enqueued": sum(1 for e, *_ in rows if str(e) not in arrival),
        "peak resident memory per Beat": ", ".join(f"{b / 2**20:.0f} MB" for b in sampler.peak),
        "start to first pass per Beat": ", ".join(f"{r:.2f} s" for r in sorted(ready)) or "-",
        "scheduler CPU seconds": " + ".join(f"{c:.1f}" for c in cpu) + f" = {sum(cpu):.1f}",
        "baseline (floor): one process storing and enqueuing the H rows, deciding nothing":
            f"{floor:.2f} s ({herd / floor:,.0f} rows/s)",
        "ratio, p99 lag / floor": f"{percentile(lags, 0.99) / floor:.2f}" if lags else "-",
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--only", choices=["ours", "celery-beat"])
    parser.add_argument("--herd", type=int, help="H of the N triggers share one slot")
    parser.add_argument(
        "--reuse", action="store_true",
        help="--herd: keep the triggers of the previous herd run (N and H as then)",
    )  # fmt: skip
    args = parser.parse_args()
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    if not (args.herd and args.reuse):
        recreate_database(DATABASE)
        migrate(ENV)
    django_setup(ENV)
    if args.herd:
        bench_herd(args.n, args.herd, log_dir, reuse=args.reuse)
        return
    print(f"{args.n:,} cron triggers, {args.n // 60:,} due at the top of every minute; "
          f"{args.minutes} measured minutes; logs in {log_dir}")  # fmt: skip
    if args.only != "celery-beat":
        bench_ours(args.n, args.minutes, log_dir)
    if args.only != "ours":
        bench_celery_beat(args.n, args.minutes, log_dir)


if __name__ == "__main__":
    main()
