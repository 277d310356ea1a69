"""Retention under ingest: webhook latency while executions_prune deletes, at 10M executions.

    .venv/bin/python bench/retention.py [--executions 10000000] [--days 120] [--rounds 6]
                                        [--seconds 60] [--connections 16] [--workers 3]
                                        [--rest-ratio 1] [--pass-seconds 1]
                                        [--pass-every 0] [--rebuild]

Fills the database ``bench_retention_filled`` once (kept between runs; ``--rebuild`` starts
over): ten tenants — ``bench``, whose GitHub-signed webhook trigger takes the load (as in
bench/webhooks.py), and nine more, one keeping its history 90 days and one 7 days (their own
retention) — 100 triggers, and ``--executions`` rows spread evenly over the last ``--days``
days, oldest first as they would have been stored: 94 % completed, 4 % failed, 1 % cancelled,
1 % scheduled slots that were skipped, and one in 100,000 still pending or running. With 120
days and the default 30-day retention three quarters of them are past retention. The rows
go in with one ``INSERT … SELECT … generate_series`` per million, with the table's indexes
dropped and built again after, then ``VACUUM ANALYZE``: the table as years of ingest and
autovacuum would leave it.

Each run copies it to ``bench_retention`` (``CREATE DATABASE … TEMPLATE``), serves the app
with gunicorn (sync workers, as README's production section) and runs a pruner process: a
loop of ``executions_prune`` passes back to back — the worst case, a backlog being caught
up — or, with ``--pass-seconds 5 --pass-every 60``, at Beat's cadence (a pass of at most 5 s
a minute). wrk POSTs the signed webhook at
``--connections`` in ``--rounds`` pairs of rounds of ``--seconds`` / ``--rounds`` each: one
with the pruner paused, one with it deleting, taking turns so the shared machine's changes
weigh on both alike. It prints, for each state, req/s and the webhook's p50/p99 (all the
state's requests merged, bench/webhooks.py's ``merged_percentile``), and the rows the pruner
deleted, its rows/s and its batches' mean time; then the plan of a batch's SELECT.
"""

import argparse
import hashlib
import hmac
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from string import Template

from _shared import (
    PG,
    ROOT,
    database_exists,
    environment,
    migrate,
    recreate_database,
    stop_group,
    wait_until_serving,
)

# bench/webhooks.py, by its path: ``import webhooks`` could mean the service's app.
_spec = importlib.util.spec_from_file_location("webhook_bench", ROOT / "bench/webhooks.py")
webhook_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_bench)

DATABASE = "bench_retention"
FILLED = "bench_retention_filled"
PORT = 8079
BROKER = "redis://127.0.0.1:6379/11"
QUEUE = "bench-retention"
TRIGGERS_PER_TENANT = 10
OWN_RETENTION = {"t1": 90, "t2": 7}  # tenants with a retention of their own (days)


def env_for(database: str) -> dict[str, str]:
    return environment(
        database,
        broker=BROKER,
        DATABASE_CONN_MAX_AGE="600",
        CELERY_QUEUE=QUEUE,
        ALLOWED_HOSTS="127.0.0.1",
        EXECUTION_RETENTION_DAYS="30",
    )


def psql(database: str, sql: str) -> str:
    done = subprocess.run(
        ["psql", f"{PG}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def django_python(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


# -- the filled database, kept between runs ------------------------------------------------------

MAKE_TENANTS = f"""
from accounts.models import Tenant
from accounts.services import credential_create, tenant_member_ensure, tenant_save
from triggers.services import trigger_create
m = tenant_member_ensure(username='bench', tenant_id='bench', role='owner')
c = credential_create(tenant=m.tenant, name='github', value={webhook_bench.SECRET!r})
trigger_create(tenant=m.tenant, provider_trigger_id='webhook', name='bench',
    signature_verification={{'preset': 'github'}}, signing_secret=c,
    input_schema={webhook_bench.SCHEMA!r},
    message_template='{{{{ body.action }}}}: {{{{ body.issue.title }}}}')
own = {OWN_RETENTION!r}
for n in range(1, 10):
    tenant = tenant_member_ensure(username=f'u{{n}}', tenant_id=f't{{n}}', role='owner').tenant
    tenant.execution_retention_days = own.get(tenant.pk)
    tenant_save(tenant=tenant)
for tenant in Tenant.objects.order_by('pk'):
    for i in range({TRIGGERS_PER_TENANT} - (tenant.pk == 'bench')):
        trigger_create(tenant=tenant, provider_trigger_id='webhook', name=f'hook {{i}}')
"""

# Rows n = 1 … N, the oldest first; ``at`` spreads them evenly over the last ``days`` days.
FILL_ROWS = Template("""
INSERT INTO executions_execution (
    execution_id, tenant_id, trigger_id, execution_type, is_test, status, request_payload,
    input_data, output_data, error_message, retry_count, max_retries, worker_id,
    conversation_id, available_at, dispatched_at, started_at, completed_at, created_at,
    updated_at)
SELECT gen_random_uuid(), t.tenant_id, t.id,
       CASE WHEN n % 100 = 99 THEN 'scheduled' ELSE 'webhook' END, false,
       CASE WHEN n % 100000 = 7 THEN 'pending' WHEN n % 100000 = 13 THEN 'running'
            WHEN n % 100 < 94 THEN 'completed' WHEN n % 100 < 98 THEN 'failed'
            ELSE 'cancelled' END,
       jsonb_build_object('method', 'POST', 'query', '{}'::jsonb,
           'headers', jsonb_build_object('Content-Type', 'application/json',
                                         'X-GitHub-Event', 'issues'),
           'body', jsonb_build_object('action', 'opened', 'issue',
                                      jsonb_build_object('number', n, 'title', 'Found a bug'))),
       jsonb_build_object('message', 'opened: Found a bug', 'payload',
                          jsonb_build_object('number', n)),
       CASE WHEN n % 100 < 94 THEN '{"dry_run": true, "text": "done"}'::jsonb END,
       CASE WHEN n % 100 BETWEEN 94 AND 97 THEN 'agent runtime answered 503' ELSE '' END,
       0, 3, 'bench@host', '', at, at, at + interval '1 second',
       CASE WHEN n % 100000 IN (7, 13) THEN NULL ELSE at + interval '2 seconds' END, at, at
FROM (SELECT n, now() - interval '$days days' * (1 - n::float8 / $total) AS at
      FROM generate_series($start, $stop) AS n) AS rows
JOIN (SELECT id, tenant_id, row_number() OVER (ORDER BY id) - 1 AS k FROM triggers_trigger) AS t
  ON t.k = n % $triggers
""")


def fill(executions: int, days: int) -> None:
    started = time.monotonic()
    env = env_for(FILLED)
    recreate_database(FILLED)
    migrate(env)
    django_python(env, MAKE_TENANTS)
    # Built again after the rows are in: one sort per index instead of 10M insertions each.
    indexes = psql(
        FILLED,
        "SELECT indexname || E'\\t' || indexdef FROM pg_indexes WHERE tablename = "
        "'executions_execution' AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    ).splitlines()
    psql(FILLED, "; ".join(f"DROP INDEX {line.split(chr(9))[0]}" for line in indexes))
    triggers = int(psql(FILLED, "SELECT count(*) FROM triggers_trigger"))
    step = 1_000_000
    for start in range(1, executions + 1, step):
        stop = min(start + step - 1, executions)
        sql = FILL_ROWS.substitute(
            days=days, total=executions, start=start, stop=stop, triggers=triggers
        )
        # The foreign keys' checks off for the fill (the rows point at real triggers).
        psql(FILLED, f"SET session_replication_role = replica; {sql}")
        print(f"  {stop:,} rows, {time.monotonic() - started:.0f} s", flush=True)
    for line in indexes:
        psql(FILLED, f"SET maintenance_work_mem = '512MB'; {line.split(chr(9), 1)[1]}")
    psql(FILLED, "VACUUM ANALYZE executions_execution")
    print(f"filled in {time.monotonic() - started:.0f} s", flush=True)


def copy_filled() -> None:
    """A fresh copy of the filled database to prune (FILE_COPY: a file copy, not the WAL)."""
    psql("postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {DATABASE} TEMPLATE {FILLED} STRATEGY FILE_COPY")


# -- the pruner --------------------------------------------------------------------------------

# While the flag file exists: passes of at most ``pass_seconds``, back to back, or one every
# ``pass_every`` seconds (Beat's cadence); a line per pass and per change of state.
PRUNER = """
import json, os, sys, time
from executions.services.retention import executions_prune
flag, log = sys.argv[1], sys.argv[2]
rest_ratio, pass_seconds, pass_every = map(float, sys.argv[3:6])
state = None
with open(log, 'a', buffering=1) as out:
    while True:
        on = os.path.exists(flag)
        if on != state:
            state = on
            out.write(json.dumps({'state': on, 'at': time.time()}) + '\\n')
        if not on:
            time.sleep(0.02)
            continue
        started = time.perf_counter()
        report = executions_prune(max_seconds=pass_seconds, rest_ratio=rest_ratio)
        out.write(json.dumps({'deleted': report.deleted, 'batches': report.batches,
                              'seconds': time.perf_counter() - started,
                              'at': time.time()}) + '\\n')
        while time.perf_counter() < started + pass_every and os.path.exists(flag):
            time.sleep(0.02)
"""

PLAN = """
from django.utils import timezone
from executions.services.retention import prune_lanes
for lane in sorted(prune_lanes(now=timezone.now()), key=lambda lane: lane.tenant_id)[:2]:
    print(f'tenant {lane.tenant_id}')
    print(lane.candidates()[:1000].explain(analyze=True, buffers=True))
"""


class Pruner:
    def __init__(self, env: dict[str, str], folder: Path, *timing: float):
        self.flag, self.log = folder / "prune", folder / "pruner.log"
        self.log.touch()
        self.state: bool | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import django; django.setup()\n" + PRUNER,
             str(self.flag), str(self.log), *map(str, timing)],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def switch(self, on: bool) -> None:
        """Pruning on or off; returns once the pruner says so (after its pass, when off)."""
        if self.state is on:
            return
        self.state, seen = on, len(self.lines())
        if on:
            self.flag.touch()
        else:
            self.flag.unlink(missing_ok=True)
        deadline = time.monotonic() + 60
        while not any(line.get("state") is on for line in self.lines()[seen:]):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the pruner did not answer")
            time.sleep(0.05)

    def passes(self) -> list[dict]:
        return [line for line in self.lines() if "deleted" in line]


# -- the run -----------------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], workers: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=60, name="gunicorn")
    return server


def counts() -> str:
    return psql(
        DATABASE,
        "SELECT count(*) || ' executions, ' || count(*) FILTER (WHERE created_at < now() - "
        "interval '30 days') || ' created over 30 days ago' FROM executions_execution",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=120, help="the rows span this many days")
    parser.add_argument("--rounds", type=int, default=6, help="pairs of rounds (off, on)")
    parser.add_argument("--seconds", type=int, default=60, help="per state, over its rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--rest-ratio", type=float, default=1.0,
                        help="the pruner rests this many times each batch's time after it "
                        "(executions/services/retention.py PRUNE_REST_RATIO, 1)")  # fmt: skip
    parser.add_argument("--pass-seconds", type=float, default=1.0, help="a pass's budget")
    parser.add_argument("--pass-every", type=float, default=0,
                        help="one pass every this many seconds (Beat: 5 and 60); 0: back to "
                        "back, the worst case")  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="fill the kept database again")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")

    if args.rebuild or not database_exists(FILLED):
        print(f"filling {FILLED} with {args.executions:,} executions over {args.days} days")
        fill(args.executions, args.days)
    copy_filled()
    env = env_for(DATABASE)
    migrate(env)  # the working tree's migrations, if newer than the filled copy's
    print(counts())
    token = psql(DATABASE, "SELECT token FROM webhooks_webhookendpoint e JOIN triggers_trigger t "
                           "ON t.id = e.trigger_id WHERE t.name = 'bench'")  # fmt: skip
    secret = webhook_bench.SECRET.encode()
    signature = "sha256=" + hmac.new(secret, webhook_bench.BODY, hashlib.sha256).hexdigest()
    url = f"http://127.0.0.1:{PORT}/hooks/{token}"
    load_before = f"{os.getloadavg()[0]:.2f}"
    folder = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    server = start_gunicorn(env, args.workers)
    pruner = Pruner(env, folder, args.rest_ratio, args.pass_seconds, args.pass_every)
    rounds: dict[str, list[dict]] = {"pruning off": [], "pruning on": []}
    round_seconds = max(args.seconds // args.rounds, 1)

    def measure(seconds: int) -> dict:
        with tempfile.TemporaryDirectory() as ids_dir:
            return webhook_bench.run_wrk(url, seconds=seconds, connections=args.connections,
                                         signature=signature, ids_dir=Path(ids_dir),
                                         server_pid=server.pid)  # fmt: skip

    try:
        pruner.switch(False)
        measure(2)  # warm-up: connections and caches in place
        for _ in range(args.rounds):
            for state in rounds:
                pruner.switch(state == "pruning on")
                rounds[state].append(measure(round_seconds))
        pruner.switch(False)
    finally:
        stop_group(pruner.process, seconds=10)
        stop_group(server, seconds=30)

    passes = pruner.passes()
    deleted, batches = sum(p["deleted"] for p in passes), sum(p["batches"] for p in passes)
    pruning = sum(p["seconds"] for p in passes)
    print(f"\nwrk {args.rounds} x {round_seconds}s per state, taking turns, {args.connections} "
          f"connections, gunicorn {args.workers} sync workers, PostgreSQL + Redis, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print(f"{'webhook':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-2xx':>9}"
          "   p99 of each round")  # fmt: skip
    results = {}
    for state, measured in rounds.items():
        r = results[state] = webhook_bench.combine(measured)
        per_round = " / ".join(f"{p / 1000:.1f}" for p in r["round_p99_us"])
        print(f"{state:<14}{r['rps']:>9.0f}{r['p50_us'] / 1000:>9.2f}{r['p99_us'] / 1000:>9.2f}"
              f"{r['max_us'] / 1000:>9.1f}{r['failed']:>9}   {per_round}")  # fmt: skip
    on, off = results["pruning on"], results["pruning off"]
    print(f"\npruning on / off: p99 {on['p99_us'] / off['p99_us']:.2f}x, p50 "
          f"{on['p50_us'] / off['p50_us']:.2f}x, req/s {on['rps'] / off['rps']:.2f}x")  # fmt: skip
    for state, r in results.items():
        cpu = r["cpu_ms_per_request"]
        print(f"CPU ms per webhook, {state}: web {cpu['web']:.2f}, PostgreSQL "
              f"{cpu['postgres']:.2f}, machine {cpu['machine']:.2f}")  # fmt: skip
    print(f"pruned: {deleted:,} rows in {batches:,} batches, {pruning:.0f} s of passes "
          f"({deleted / max(pruning, 1e-9):,.0f} rows/s, "
          f"{1000 * pruning / max(batches, 1):.1f} ms a batch with its rest, rest ratio "
          f"{args.rest_ratio:g}, passes of {args.pass_seconds:g} s "
          + (f"every {args.pass_every:g} s)" if args.pass_every else "back to back)"))  # fmt: skip
    print(f"load average before / after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(counts())
    print("\nA batch's SELECT, of tenants bench and t1, after the run:")
    print(django_python(env, PLAN))
    subprocess.run(["redis-cli", "-n", BROKER.rsplit("/", 1)[1], "del", QUEUE],
                   capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
