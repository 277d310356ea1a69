"""Webhook ingestion throughput and latency, against a bare DRF insert, on PostgreSQL + Redis.

    .venv/bin/python bench/webhooks.py [--seconds 30] [--connections 16] [--workers 3]
                                       [--rounds 10] [--in-process N] [--ceiling]
                                       [--server gunicorn|granian] [--instructions]

Creates the database ``bench_webhooks`` (dropped first), a GitHub-signed webhook trigger with
a JSON Schema, and serves the app with gunicorn as README's production section does. wrk
(Debian: ``apt-get install wrk``) then POSTs at ``--connections`` to a bare DRF endpoint that
inserts one row into the same database (bench/urls.py) and to the webhook (HMAC verification
+ JSON Schema + the whole pipeline), ``--seconds`` each, taking turns in ``--rounds`` rounds
so both meet the same machine. It prints req/s, p50/p99 latency of both, their ratio and
CPU per request by process, then checks every 2xx against the database: each execution id
a 2xx returned must exist exactly once (lost / duplicated), and counts the executions stored
for requests still in flight when wrk stopped (no answer was counted). ``--ceiling`` adds a
third endpoint taking its turn, a raw WSGI insert without Django (bench/wsgi.py): what any
Python endpoint could reach under the same server. ``--server granian`` serves the same WSGI
application with granian instead (``.venv/bin/pip install granian``; not a dependency of the
service): what a server with HTTP parsing in Rust and keep-alive changes, for all endpoints
alike. ``--instructions`` counts each endpoint's instructions per request with callgrind
(``valgrind``), in process, repeatable whatever else the shared machine is doing."""

import argparse
import bisect
import hashlib
import hmac
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _shared import (
    ROOT,
    environment,
    migrate,
    recreate_database,
    stop_group,
    wait_until_serving,
)

DATABASE = "bench_webhooks"
SECRET = "bench-github-secret"
BODY = json.dumps(
    {
        "action": "opened",
        "repository": {"full_name": "acme/api"},
        "issue": {"number": 1347, "title": "Found a bug", "labels": ["bug"]},
        "sender": {"login": "octocat"},
    }
).encode()
SCHEMA = {
    "type": "object",
    "required": ["action", "issue"],
    "properties": {
        "action": {"type": "string"},
        "issue": {
            "type": "object",
            "required": ["number", "title"],
            "properties": {"number": {"type": "integer"}, "title": {"type": "string"}},
        },
    },
}
PORT = 8077
CPU_GROUPS = ("web", "postgres", "redis", "wrk", "machine")

# bench.settings: the bare DRF endpoint's URL (bench/urls.py) beside the service's.
ENV = environment(
    DATABASE,
    broker="redis://127.0.0.1:6379/13",
    DJANGO_SETTINGS_MODULE="bench.settings",
    DATABASE_CONN_MAX_AGE="600",
    CELERY_QUEUE="bench-webhooks",
    ALLOWED_HOSTS="127.0.0.1",
)


def python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=ENV, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout.strip()


def prepare_database() -> tuple[str, int]:
    """A fresh database with one signed webhook trigger; returns (token, trigger id)."""
    recreate_database(DATABASE)
    migrate(ENV)
    return tuple(
        python(
            "import django, json; django.setup()\n"
            "from accounts.services import credential_create, tenant_member_ensure\n"
            "from triggers.services import trigger_create\n"
            "m = tenant_member_ensure(username='bench', tenant_id='bench', role='owner')\n"
            f"c = credential_create(tenant=m.tenant, name='github', value={SECRET!r})\n"
            "t = trigger_create(tenant=m.tenant, provider_trigger_id='webhook', name='bench',\n"
            "    signature_verification={'preset': 'github'}, signing_secret=c,\n"
            f"    input_schema={SCHEMA!r}, message_template='{{{{ body.action }}}}: "
            "{{ body.issue.title }}')\n"
            "print(t.webhook_endpoint.token, t.pk)"
        ).split()
    )


def start_gunicorn(
    workers: int, worker_class: str, threads: int, app: str = "config.wsgi"
) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), app, "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
         "--log-level", "warning"],
        cwd=ROOT, env=ENV, start_new_session=True,
    )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=30, name="gunicorn")
    return server


def start_granian(workers: int, app: str) -> subprocess.Popen:
    """The same WSGI application under granian, one blocking thread per worker process (as a
    sync worker serves one request at a time); its workers are the server process's children,
    as gunicorn's, so ``cpu_seconds`` counts them alike."""
    granian = ROOT / ".venv/bin/granian"
    if not granian.exists():
        sys.exit("granian is missing: .venv/bin/pip install granian")
    server = subprocess.Popen(
        [str(granian), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(PORT),
         "--workers", str(workers), "--blocking-threads", "1", "--log-level", "warning",
         f"{app}:application"],
        cwd=ROOT, env=ENV, start_new_session=True,
    )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=30, name="granian")
    return server


def cpu_seconds(master_pid: int) -> dict[str, float]:
    """CPU (user + system) used so far, from /proc: by gunicorn (its master and workers), by
    PostgreSQL and by redis-server, plus the whole machine's busy time; and by the children
    this script waited for (wrk, which is gone from /proc when it is counted)."""
    ticks = os.sysconf("SC_CLK_TCK")
    groups = dict.fromkeys(("web", "postgres", "redis"), 0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces: the fields after its ")" are fixed.
            text = stat.read_text()
            pid, name = int(stat.parent.name), text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            continue
        if pid == master_pid or int(fields[1]) == master_pid:  # fields[1]: the parent's pid
            group = "web"
        else:
            group = {"postgres": "postgres", "redis-server": "redis"}.get(name)
        if group:
            groups[group] += int(fields[11]) + int(fields[12])  # utime, stime
    machine = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    groups["machine"] = sum(machine) - machine[3] - machine[4]  # all but idle and iowait
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        **{group: value / ticks for group, value in groups.items()},
        "wrk": children.ru_utime + children.ru_stime,
    }


def run_wrk(
    url: str, *, seconds: int, connections: int, signature: str, ids_dir: Path, server_pid: int
) -> dict:
    body_file = ids_dir / "body.json"
    body_file.write_bytes(BODY)
    cpu_before = cpu_seconds(server_pid)
    result = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s",
         "-s", str(ROOT / "bench/wrk_post.lua"), url],
        env={**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_SIGNATURE": signature,
             "BENCH_IDS_DIR": str(ids_dir)},
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    cpu_after = cpu_seconds(server_pid)
    *_, distribution, last = result.stdout.strip().splitlines()
    summary = {**json.loads(last), **json.loads(distribution)}
    summary["cpu"] = {group: cpu_after[group] - cpu_before[group] for group in cpu_after}
    summary["ids"] = [
        line for f in sorted(ids_dir.glob("ids-*.txt")) for line in f.read_text().split()
    ]
    return summary


def combine(rounds: list[dict]) -> dict:
    """One endpoint's figures over its rounds, as if it had been one run: req/s and CPU over
    all of them, percentiles of all their requests together (``merged_percentile``)."""
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["duration_us"] for r in rounds) / 1e6
    cpu = {group: sum(r["cpu"][group] for r in rounds) for group in rounds[0]["cpu"]}
    return {
        "requests": requests,
        "rps": requests / seconds,
        "p50_us": merged_percentile(rounds, 50),
        "p99_us": merged_percentile(rounds, 99),
        "round_p99_us": [r["p99_us"] for r in rounds],
        "max_us": max(r["max_us"] for r in rounds),
        "failed": sum(r["non_2xx"] + r["read_errors"] + r["timeouts"] for r in rounds),
        "cpu_ms_per_request": {g: v * 1000 / max(requests, 1) for g, v in cpu.items()},
        "machine_busy": cpu["machine"] / (seconds * os.cpu_count()),
        "ids": [i for r in rounds for i in r["ids"]],
    }


def merged_percentile(rounds: list[dict], percent: float) -> int:
    """The latency under which ``percent`` % of all the rounds' requests fell, in µs.

    Each round's distribution is known at its percentiles 0.1, 0.2, ... 100 (wrk_post.lua),
    weighted by its number of requests: the result is the smallest of those latencies under
    which enough requests fell, exact to a tenth of a percentile of each round.
    """
    target = percent / 100 * sum(r["requests"] for r in rounds)

    def requests_at_or_under(latency: int) -> float:
        return sum(
            r["requests"] * bisect.bisect_right(r["cdf_us"], latency) / len(r["cdf_us"])
            for r in rounds
        )

    latencies = sorted({latency for r in rounds for latency in r["cdf_us"]})
    index = bisect.bisect_left(
        range(len(latencies)), True, key=lambda i: requests_at_or_under(latencies[i]) >= target
    )
    return latencies[min(index, len(latencies) - 1)]


def check_executions(ids: list[str], trigger_id: str) -> dict:
    ids_file = Path(tempfile.mkstemp(suffix=".json")[1])
    ids_file.write_text(json.dumps(ids))
    return json.loads(
        python(
            "import django, json; django.setup()\n"
            "from collections import Counter\n"
            "from executions.models import Execution\n"
            f"ids = json.load(open({str(ids_file)!r}))\n"
            f"stored = Counter(str(e) for e in Execution.objects.filter(trigger_id={trigger_id})"
            ".values_list('execution_id', flat=True))\n"
            "answered = Counter(ids)\n"
            "print(json.dumps({'answered_2xx': len(ids), 'stored': sum(stored.values()),\n"
            "  'lost': sum(1 for i in answered if i not in stored),\n"
            "  'duplicated': sum(n - 1 for n in stored.values() if n > 1)\n"
            "              + sum(n - 1 for n in answered.values() if n > 1),\n"
            "  'stored_without_counted_answer': sum(1 for i in stored if i not in answered)}))"
        )
    )


# --in-process: both endpoints called through the service's WSGI application in one process,
# no server, taking turns; the process's CPU per request (time.process_time), so the app's
# own cost is seen apart from the server's (gunicorn's sync workers take a new connection
# per request, which both endpoints pay alike).
CALL = """
import io, sys
import django
django.setup()
from config.wsgi import application
def call(path, headers):
    environ = {{"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8077", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
               "wsgi.input": io.BytesIO({body!r}), "CONTENT_LENGTH": "{length}",
               "CONTENT_TYPE": "application/json", **headers}}
    status = []
    body = application(environ, lambda s, h, e=None: status.append(s))
    b"".join(body)
    body.close()
    assert status[0].startswith("202"), (path, status)
"""
IN_PROCESS = (
    CALL
    + """
import time
paths = {paths!r}
cpu = {{name: [] for name in paths}}
for name, (path, headers) in paths.items():
    for _ in range(200):
        call(path, headers)
for _ in range({rounds}):
    for name, (path, headers) in paths.items():
        started = time.process_time()
        for _ in range({requests}):
            call(path, headers)
        cpu[name].append((time.process_time() - started) / {requests} * 1000)
for name, figures in cpu.items():
    print(f"{{name:<18}} CPU ms per request, each round: "
          + " / ".join(f"{{f:.3f}}" for f in figures)
          + f"   median {{sorted(figures)[len(figures) // 2]:.3f}}")
"""
)
# --instructions: one endpoint called N times in a fresh process under callgrind, which
# counts instructions, whatever else the machine is doing; N = 100 and N = 500 are run and
# the difference / 400 is one request's count, without start-up. (Repeatable to about ±3 %:
# the run publisher's thread batches by time.)
INSTRUCTIONS = (
    CALL
    + """
for _ in range({requests}):
    call({path!r}, {headers!r})
"""
)
INSTRUCTION_COUNTS = (100, 500)


def _paths(token: str, baseline_trigger: str, signature: str) -> dict:
    return {
        "bare DRF insert": (f"/bench/insert/{baseline_trigger}", {}),
        "webhook pipeline": (
            f"/hooks/{token}",
            {"HTTP_X_HUB_SIGNATURE_256": signature, "HTTP_X_GITHUB_EVENT": "issues"},
        ),
    }


def in_process(token: str, baseline_trigger: str, signature: str, rounds: int, n: int) -> None:
    paths = _paths(token, baseline_trigger, signature)
    code = IN_PROCESS.format(paths=paths, body=BODY, length=len(BODY), rounds=rounds, requests=n)
    print(f"in process, no server: {rounds} rounds of {n} requests per endpoint, taking turns")
    print(python(code))


def instructions(token: str, baseline_trigger: str, signature: str) -> None:
    if not shutil.which("valgrind"):
        sys.exit("valgrind is missing: apt-get install -y valgrind")
    few, many = INSTRUCTION_COUNTS
    print(f"in process under callgrind, no server: N = {few} and {many}, difference / {many - few}")
    for name, (path, headers) in _paths(token, baseline_trigger, signature).items():
        counts = []
        for n in INSTRUCTION_COUNTS:
            code = INSTRUCTIONS.format(
                body=BODY, length=len(BODY), path=path, headers=headers, requests=n
            )
            result = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                 sys.executable, "-c", code],
                cwd=ROOT, env=ENV, check=True, capture_output=True, text=True,
            )  # fmt: skip
            counts.append(int(re.search(r"Collected : (\d+)", result.stderr).group(1)))
        per_request = (counts[1] - counts[0]) / (many - few) / 1e6
        print(f"{name:<18} {per_request:.3f} M instructions per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--ceiling", action="store_true",
                        help="also a raw WSGI insert, without Django (bench/wsgi.py)")  # fmt: skip
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn",
                        help="the WSGI server (granian: pip install granian first)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=10,
                        help="alternate the endpoints in this many rounds each")  # fmt: skip
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="instead: N requests a round through the WSGI app")  # fmt: skip
    parser.add_argument("--instructions", action="store_true",
                        help="instead: instructions per request, counted by callgrind")  # fmt: skip
    args = parser.parse_args()
    if not (args.in_process or args.instructions) and not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")

    token, trigger_id = prepare_database()
    baseline_trigger = python(
        "import django; django.setup()\n"
        "from triggers.models import Trigger\n"
        "from triggers.services import trigger_create\n"
        "t = Trigger.objects.get()\n"
        "print(trigger_create(tenant=t.tenant, provider_trigger_id='webhook', name='baseline').pk)"
    )
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    if args.in_process:
        in_process(token, baseline_trigger, signature, args.rounds, args.in_process)
        return
    if args.instructions:
        instructions(token, baseline_trigger, signature)
        return
    load_before = f"{os.getloadavg()[0]:.2f}"
    app = "bench.wsgi" if args.ceiling else "config.wsgi"
    if args.server == "granian":
        server = start_granian(args.workers, app)
        served_by = f"granian {args.workers} workers of 1 blocking thread"
    else:
        server = start_gunicorn(args.workers, args.worker_class, args.threads, app)
        served_by = f"gunicorn {args.workers} {args.worker_class} workers"
    endpoints = {
        "bare DRF insert": (f"http://127.0.0.1:{PORT}/bench/insert/{baseline_trigger}", ""),
        "webhook pipeline": (f"http://127.0.0.1:{PORT}/hooks/{token}", signature),
    }
    if args.ceiling:
        endpoints["raw WSGI insert"] = (f"http://127.0.0.1:{PORT}/bench/raw/{baseline_trigger}", "")
    rounds = {name: [] for name in endpoints}
    round_seconds = max(args.seconds // args.rounds, 1)
    try:
        for name, (url, sig) in endpoints.items():
            # A short warm-up so both start with connections and caches in place.
            with tempfile.TemporaryDirectory() as ids_dir:
                rounds[name].append(run_wrk(url, seconds=2, connections=args.connections,
                                            signature=sig, ids_dir=Path(ids_dir),
                                            server_pid=server.pid))  # fmt: skip
        warm_up_ids = rounds["webhook pipeline"].pop()["ids"]
        for name in endpoints.keys() - {"webhook pipeline"}:
            rounds[name].pop()
        # The endpoints take turns, so a change in the machine's speed during the run (it is
        # shared) weighs on both alike instead of on whichever ran second.
        for _ in range(args.rounds):
            for name, (url, sig) in endpoints.items():
                with tempfile.TemporaryDirectory() as ids_dir:
                    rounds[name].append(run_wrk(url, seconds=round_seconds,
                                                connections=args.connections, signature=sig,
                                                ids_dir=Path(ids_dir),
                                                server_pid=server.pid))  # fmt: skip
    finally:
        stop_group(server, seconds=30)

    results = {name: combine(measured) for name, measured in rounds.items()}
    webhook, bare = results["webhook pipeline"], results["bare DRF insert"]
    check = check_executions(warm_up_ids + webhook["ids"], trigger_id)
    print(f"\nwrk {args.rounds} x {round_seconds}s per endpoint, taking turns, "
          f"{args.connections} connections, {served_by}, PostgreSQL + Redis, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print(f"{'endpoint':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-2xx':>9}"
          "   p99 of each round")  # fmt: skip
    for name, r in results.items():
        per_round = " / ".join(f"{p / 1000:.1f}" for p in r["round_p99_us"])
        print(f"{name:<18}{r['rps']:>9.0f}{r['p50_us'] / 1000:>9.2f}{r['p99_us'] / 1000:>9.2f}"
              f"{r['max_us'] / 1000:>9.1f}{r['failed']:>9}   {per_round}")  # fmt: skip
    print("\nCPU ms per request (user + system; machine = every process, busy = of all cores)")
    print(f"{'endpoint':<18}" + "".join(f"{g:>10}" for g in CPU_GROUPS) + f"{'busy':>8}")
    for name, r in results.items():
        cpu = r["cpu_ms_per_request"]
        print(f"{name:<18}" + "".join(f"{cpu[g]:>10.3f}" for g in CPU_GROUPS)
              + f"{r['machine_busy']:>8.0%}")  # fmt: skip
    ratio = webhook["rps"] / bare["rps"]
    print(f"\nratio webhook / bare: {ratio:.2f} in req/s, "
          f"{bare['cpu_ms_per_request']['machine'] / webhook['cpu_ms_per_request']['machine']:.2f} "
          "in machine CPU per request")  # fmt: skip
    if args.ceiling:
        raw = results["raw WSGI insert"]
        print(f"ratio raw WSGI insert / bare: {raw['rps'] / bare['rps']:.2f} in req/s, "
              f"{bare['cpu_ms_per_request']['machine'] / raw['cpu_ms_per_request']['machine']:.2f} "
              "in machine CPU per request")  # fmt: skip
    print(f"load average before / after: {load_before} / {os.getloadavg()[0]:.2f}")
    in_flight = check["stored_without_counted_answer"]
    print(f"webhook 2xx answered (warm-up included): {check['answered_2xx']}, "
          f"executions stored: {check['stored']}, lost: {check['lost']}, "
          f"duplicated: {check['duplicated']}, stored for requests in flight at the stop: "
          f"{in_flight}")  # fmt: skip
    subprocess.run(["redis-cli", "-n", "13", "del", "bench-webhooks"], capture_output=True)


if __name__ == "__main__":
    main()
