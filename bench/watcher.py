"""Watched folders at scale: from a file closed to its execution stored, with a real watcher.

    .venv/bin/python bench/watcher.py --folders 100 --files 1000 [--settle 1] [--rate 200]

Creates the database ``bench_watcher`` (dropped first, migrated) and ``--folders`` file_system
triggers, each watching a folder of its own under a temporary FILE_WATCH_ROOTS (pattern
``*.csv``, event ``created``, ``settle_seconds`` = ``--settle``), and starts ``manage.py
run_watcher`` on it. Once the watcher is ready, it writes ``--files`` files round-robin across
the folders at ``--rate`` files per second (0: as fast as it can), noting when each was
closed, and waits for their executions. It prints the latency from close to the execution's
``created_at`` (p50, p99, max), the files without an execution (lost) and the executions
beyond one per file (duplicated), and the watcher's CPU seconds. Then it restarts the
watcher and checks that the restart, which scans every folder against its ledger, fires
nothing again. No worker runs: executions stay pending, their run messages go to a Redis
queue of the bench's own, deleted at the end.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import redis
from _shared import ROOT, django_setup, environment, migrate, percentile, recreate_database

DATABASE = "bench_watcher"
BROKER = "redis://127.0.0.1:6379/12"
QUEUE = "bench-watcher"


def create_triggers(roots: Path, folders: int, settle: float) -> list[tuple[int, Path]]:
    from accounts.services import tenant_member_ensure
    from triggers.services import trigger_create

    tenant = tenant_member_ensure(username="bench", tenant_id="bench", role="owner").tenant
    created = []
    for index in range(folders):
        folder = roots / f"folder-{index:03d}"
        folder.mkdir()
        config = {"watch_path": str(folder), "patterns": ["*.csv"], "settle_seconds": settle}
        trigger = trigger_create(
            tenant=tenant, name=f"bench {index}", provider_trigger_id="file_system", config=config
        )
        created.append((trigger.pk, folder))
    return created


class Watcher:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        offset = log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_watcher"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while b"Watcher ready" not in log_path.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the watcher did not start; see {log_path}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()


def drop_files(triggers, files: int, rate: float) -> dict[tuple[int, str], float]:
    """Write ``files`` files round-robin across the folders; (trigger id, name) -> closed at."""
    closed = {}
    started = time.monotonic()
    for index in range(files):
        if rate:
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
        trigger_id, folder = triggers[index % len(triggers)]
        name = f"file-{index:05d}.csv"
        with open(folder / name, "w") as handle:
            handle.write(f"{index},bench\n" * 20)
        closed[(trigger_id, name)] = time.time()
    return closed


def stored_executions() -> list[tuple[int, str, float]]:
    from executions.models import Execution

    rows = Execution.objects.values_list("trigger_id", "input_data", "created_at")
    return [(t, data["path"], created.timestamp()) for t, data, created in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=200.0, help="files per second; 0: burst")
    args = parser.parse_args()
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "watcher.log"
    log_path.write_bytes(b"")
    with tempfile.TemporaryDirectory(prefix="bench-watcher-") as temporary:
        roots = Path(temporary)
        env = environment(
            DATABASE,
            broker=BROKER,
            log_level="INFO",
            CELERY_QUEUE=QUEUE,
            FILE_WATCH_ROOTS=str(roots),
        )
        recreate_database(DATABASE)
        migrate(env)
        django_setup(env)
        broker = redis.Redis.from_url(BROKER)
        broker.delete(QUEUE)
        triggers = create_triggers(roots, args.folders, args.settle)
        print(f"{args.files:,} files across {args.folders} watched folders "
              f"({args.folders} triggers), settle_seconds {args.settle:g}, "
              f"{f'{args.rate:g} files/s' if args.rate else 'as fast as possible'}; "
              f"watcher log {log_path}")  # fmt: skip
        watcher = Watcher(env, log_path)
        cpu_before = watcher.cpu_seconds()
        writing = time.monotonic()
        closed = drop_files(triggers, args.files, args.rate)
        written_in = time.monotonic() - writing
        deadline = time.monotonic() + args.settle + 60
        while len(stored_executions()) < args.files and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(args.settle + 2)  # anything late or twice would be here by now
        cpu = watcher.cpu_seconds() - cpu_before
        rows = stored_executions()
        watcher.stop()

        per_file = Counter((trigger_id, path) for trigger_id, path, _ in rows)
        first_stored: dict[tuple[int, str], float] = {}
        for trigger_id, path, created in rows:
            key = (trigger_id, path)
            first_stored[key] = min(created, first_stored.get(key, created))
        lags = [first_stored[key] - at for key, at in closed.items() if key in first_stored]
        print(f"  files written in {written_in:.1f} s")
        p50, p99 = statistics.median(lags), percentile(lags, 0.99)
        print(f"  latency, file closed -> execution stored: p50 {p50:.3f} s, "
              f"p99 {p99:.3f} s, max {max(lags):.3f} s, min {min(lags):.3f} s "
              f"({len(lags)} files)")  # fmt: skip
        print(f"  lost: {sum(1 for key in closed if key not in per_file)}")
        print(f"  duplicated: {sum(count - 1 for count in per_file.values())}")
        print(f"  unexpected (an execution for no file written): "
              f"{sum(1 for key in per_file if key not in closed)}")  # fmt: skip
        print(f"  watcher CPU seconds while writing and settling: {cpu:.1f}")

        restarted = time.monotonic()
        watcher = Watcher(env, log_path)
        ready_in = time.monotonic() - restarted
        time.sleep(args.settle + 2)
        again = len(stored_executions()) - len(rows)
        watcher.stop()
        print(f"  after a restart (ready in {ready_in:.1f} s, {args.files:,} files scanned "
              f"against the ledgers): {again} new executions")  # fmt: skip
        broker.delete(QUEUE)


if __name__ == "__main__":
    main()
