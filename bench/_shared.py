"""What the benchmark scripts share: their environment, the database they own, Django
in-process, a server's start and stop, percentiles.

Imported by the scripts run as ``.venv/bin/python bench/<name>.py`` (this folder is then the
first entry of ``sys.path``)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
# Fixed test keys: a benchmark's database holds nothing secret.
SECRETS = {
    "SECRET_KEY": "bench-secret-key",
    "SECRETS_ENCRYPTION_KEYS": "u1lbbMHmF6v0Ah8ZBZ5G3p8yPbmQ8Nq6e3PfkwBq3xM=",
}


def environment(
    database: str, *, broker: str, log_level: str | None = "WARNING", **variables: str
) -> dict[str, str]:
    """The environment of a benchmark's Django processes: this checkout's code on the
    benchmark's own database and Redis database, with fixed keys; ``log_level`` None leaves
    LOG_LEVEL to the caller's environment, ``variables`` add to the rest or replace it."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{PG}/{database}",
        "CELERY_BROKER_URL": broker,
        **SECRETS,
        **({"LOG_LEVEL": log_level} if log_level else {}),
        "PYTHONPATH": str(ROOT),
        **variables,
    }


def database_exists(database: str) -> bool:
    found = subprocess.run(
        ["psql", f"{PG}/postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{database}'"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return found.stdout.strip() == "1"


def recreate_database(database: str) -> None:
    for sql in (f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", f"CREATE DATABASE {database}"):
        subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def prepare_kept_database(database: str, env: dict[str, str], *, rebuild: bool) -> bool:
    """A database kept between runs: created when missing (or ``rebuild``), migrated either
    way (the working tree's new indexes); True when it is new and has to be filled."""
    fresh = rebuild or not database_exists(database)
    if fresh:
        recreate_database(database)
    migrate(env)
    return fresh


def django_setup(env: dict[str, str]) -> None:
    """Django in this process, on the benchmark's environment."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def wait_until_serving(url: str, *, seconds: float, name: str) -> None:
    """Returns once ``url`` answers 2xx; RuntimeError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not start")


def stop_group(process: subprocess.Popen, *, seconds: float) -> None:
    """SIGTERM to the process group of ``process`` (started with ``start_new_session``), then
    SIGKILL to what is left of it after ``seconds``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=seconds)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank); NaN when empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def timed(call, requests: int) -> list[float]:
    """Milliseconds of ``requests`` calls, after 3 that warm caches and connections."""
    for _ in range(3):
        call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples
