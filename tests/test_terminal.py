"""bin/run's terminal is one a person can read (issue 30, part 5): startup, errors, and one
line when an execution starts and one when it ends — not Celery's two lines for every
periodic dispatch pass and sweep nor Beat's for every periodic task it sends (136 such lines
in the first 100 s before).

A fresh copy of the tree with its own virtualenv, as tests/test_stopping.py makes it (SQLite
and the filesystem broker, bin/run's defaults), started once; its terminal is read while it
idles (ten dispatch passes, and the other periodic tasks, run more often than by default),
then while one webhook delivery runs."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_stopping import free_port, stop_and_watch, tree, user_environment

__all__ = ["tree"]  # the fixture, built for this module too

pytestmark = pytest.mark.slow

IDLE_SECONDS = 10
# Every periodic task more often than by default, so the idle time holds ten dispatch
# passes and several of each other one (the sweeper, retention's prune, the alerts' check).
PERIODIC_TASKS = {
    "EXECUTION_DISPATCH_INTERVAL_SECONDS": "1",
    "EXECUTION_SWEEP_INTERVAL_SECONDS": "3",
    "EXECUTION_PRUNE_INTERVAL_SECONDS": "3",
    "ALERTS_CHECK_INTERVAL_SECONDS": "3",
}
WORKERS = ("worker", "control", "agents")  # bin/run's three, each "<name>@<host> ready."
# What Celery and Beat wrote for every task message and periodic task before:
# "Task executions.tasks.dispatch_executions[<id>] received", "… succeeded in 0.003s: 0",
# "Scheduler: Sending due task dispatch-executions (executions.tasks.dispatch_executions)".
PERIODIC = re.compile(r"^Task \S+\[[0-9a-f-]+\] (received|succeeded in)|Sending due task")


def read_lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


def wait_until(predicate, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout} s:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)


def post(url: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_bin_run_prints_startup_and_one_line_per_execution_start_and_end(tree, tmp_path):
    log = tmp_path / "bin-run.log"
    address = f"127.0.0.1:{free_port()}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["bin/run"], cwd=tree,
            env=user_environment(
                SERVICES="web worker beat watcher", BIND=address, **PERIODIC_TASKS
            ),
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def text() -> str:
        return log.read_text(errors="replace")

    try:
        wait_until(
            lambda: (
                all(re.search(rf"^{name}@\S+ ready\.$", text(), re.M) for name in WORKERS)
                and "beat: Starting..." in text()
                and "Watcher ready" in text()
                and "Booting worker" in text()
            ),
            "every service ready",
            log,
        )
        time.sleep(3)  # what a service writes just after its start

        started = len(read_lines(log))
        time.sleep(IDLE_SECONDS)
        idle = read_lines(log)[started:]

        made = subprocess.run(
            [".venv/bin/python", "manage.py", "create_api_token", "--username", "op",
             "--tenant", "t"],
            cwd=tree, env=user_environment(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = made.stdout.strip().splitlines()[-1]
        before_run = len(read_lines(log))
        hook = post(
            f"http://{address}/api/triggers",
            {"name": "Hook", "trigger_type": "webhook"},
            {"Authorization": f"Bearer {token}"},
        )
        url = hook["webhook_url"].replace("http://127.0.0.1:8000", f"http://{address}")
        execution_id = post(url, {"hello": "world"})["execution_id"]
        wait_until(lambda: f"Execution {execution_id} completed" in text(), "the end line", log)
        time.sleep(3)  # any line the run would still add
        run = read_lines(log)[before_run:]
    finally:
        _took, left = stop_and_watch(server, lambda pid: os.kill(pid, signal.SIGTERM))
        assert not left, left

    whole = read_lines(log)
    assert not [line for line in whole if PERIODIC.search(line)], "\n".join(whole)
    assert idle == [], "\n".join(idle)  # nothing at all while nothing happens
    about_it = [line for line in run if execution_id in line]
    assert len(about_it) == 2, "\n".join(run)
    assert re.fullmatch(
        rf"Execution {execution_id} started: webhook run of trigger #\d+", about_it[0]
    ), about_it
    assert re.fullmatch(rf"Execution {execution_id} completed in [\d.]+ s", about_it[1]), about_it
    # Besides them, only the web server's line for each request (the trigger, the delivery).
    others = [line for line in run if execution_id not in line]
    assert len(others) == 2 and all(line.startswith("127.0.0.1 - ") for line in others), others
