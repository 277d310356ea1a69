"""A real ``manage.py run_watcher`` process on the test database, real files, real inotify.

Triggers are declared over the agent API; executions are asserted in the database and
through ``GET /api/executions?trigger_id=<trigger_instance_id>``. No worker runs: the
executions stay pending, which is all these tests need.
"""

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from executions.models import Execution
from tests.conftest import ROOT, engine_environment, purge_test_queue
from triggers.choices import TriggerStatus
from triggers.models import Trigger

pytestmark = pytest.mark.slow


class WatcherProcess:
    """``manage.py run_watcher`` on the test database, started and ready (first sync done)."""

    def __init__(self, log_path: Path, roots: list[Path]):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        offset = log_path.stat().st_size
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_watcher"],
            cwd=ROOT,
            env=engine_environment(FILE_WATCH_ROOTS=",".join(map(str, roots)), LOG_LEVEL="INFO"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while b"Watcher ready" not in log_path.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the watcher did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def start_watcher(transactional_db, watch_root, tmp_path):
    """Start a real watcher (``start_watcher()``) with FILE_WATCH_ROOTS = [watch_root]; every
    one started is stopped after the test."""
    purge_test_queue()
    processes: list[WatcherProcess] = []

    def start() -> WatcherProcess:
        process = WatcherProcess(tmp_path / "watcher.log", [watch_root])
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()
    purge_test_queue()


def declare(client, *configs, status="ENABLED") -> list[str]:
    """PUT the agent triage's triggers (file_system, one per config); their instance ids."""
    items = [{"trigger_id": "file_system", "status": status, "config": c} for c in configs]
    response = client.put("/agents/triage/triggers", {"triggers": items}, format="json")
    assert response.status_code == 200, response.content
    return [t["trigger_instance_id"] for t in response.json()["triggers"]]


def executions_of(instance_id: str):
    return Execution.objects.filter(trigger__uuid=instance_id).order_by("id")


def paths_of(instance_id: str) -> list[str]:
    return sorted(e.input_data["path"] for e in executions_of(instance_id))


def drop(folder: Path, name: str, text: str = "payload") -> float:
    """Write a file and close it; when it was closed (epoch seconds)."""
    with open(folder / name, "w") as handle:
        handle.write(text)
    return time.time()


def test_100_files_fire_exactly_the_matching_triggers_once_each(
    alice_client, acme_agent, watch_root, start_watcher, wait_for
):
    folder = watch_root / "in"
    csv, reports, structured = declare(
        alice_client,
        {"watch_path": str(folder), "patterns": ["*.csv"], "settle_seconds": 0.5},
        {"watch_path": str(folder), "patterns": ["report-*"], "settle_seconds": 0.5},
        {"watch_path": str(folder), "patterns": ["*.json", "*.xml"], "settle_seconds": 0.5},
    )
    watcher = start_watcher()
    kinds = ["report-{}.csv", "data-{}.csv", "data-{}.json", "notes-{}.txt"]
    names = [kinds[i % 4].format(i) for i in range(100)]
    closed = {name: drop(folder, name, "x" * i) for i, name in enumerate(names)}

    wait_for(lambda: Execution.objects.count() >= 100, timeout=30, message=f"{watcher.log()}")
    time.sleep(1.5)  # settle time and more: nothing else may come

    assert Execution.objects.count() == 100
    assert paths_of(csv) == sorted(n for n in names if n.endswith(".csv"))  # 50
    assert paths_of(reports) == sorted(n for n in names if n.startswith("report-"))  # 25
    assert paths_of(structured) == sorted(n for n in names if n.endswith(".json"))  # 25
    execution = executions_of(reports).first()
    name = execution.input_data["path"]
    mtime = os.stat(folder / name).st_mtime_ns
    assert execution.execution_type == "file_system"
    assert execution.input_data == {
        "event": "created",
        "path": name,
        "watch_path": str(folder),
        "size": names.index(name),
        "modified_at": datetime.fromtimestamp(mtime // 10**9, tz=UTC)
        .replace(microsecond=mtime // 1000 % 10**6)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    latencies = [
        e.created_at.timestamp() - closed[e.input_data["path"]] for e in Execution.objects.all()
    ]
    assert max(latencies) < 0.5 + 2.0, sorted(latencies)[-5:]

    listed = alice_client.get(f"/api/executions?trigger_id={reports}&limit=1000")
    assert listed.status_code == 200, listed.content
    assert listed["X-Total-Count"] == "25"
    assert sorted(e["input_data"]["path"] for e in listed.json()) == paths_of(reports)
    assert {e["execution_type"] for e in listed.json()} == {"file_system"}


def test_a_file_written_in_chunks_fires_once_when_it_settled(
    alice_client, acme_agent, watch_root, start_watcher, wait_for
):
    folder = watch_root / "in"
    [trigger] = declare(
        alice_client,
        {"watch_path": str(folder), "events": ["created", "modified"], "settle_seconds": 1},
    )
    start_watcher()

    with open(folder / "big.csv", "w") as handle:
        for chunk in range(4):
            time.sleep(0.3 if chunk else 0)  # pauses shorter than settle_seconds
            handle.write("chunk " * 1000)
            handle.flush()
    closed = time.time()

    [execution] = wait_for(lambda: list(executions_of(trigger)), timeout=10)
    time.sleep(2.0)
    assert executions_of(trigger).count() == 1
    assert execution.input_data["event"] == "created"
    assert execution.input_data["size"] == 4 * 6000
    assert 1.0 <= execution.created_at.timestamp() - closed < 1.0 + 1.0


def test_files_dropped_while_the_watcher_is_down_fire_once_when_it_starts(
    alice_client, acme_agent, watch_root, start_watcher, wait_for, tmp_path
):
    folder = watch_root / "in"
    drop(folder, "old.csv", "there before the trigger")
    an_hour_ago = time.time() - 3600
    os.utime(folder / "old.csv", (an_hour_ago, an_hour_ago))
    [trigger] = declare(
        alice_client,
        {"watch_path": str(folder), "events": ["created", "modified", "deleted"],
         "settle_seconds": 0.2},
    )  # fmt: skip
    watcher = start_watcher()
    drop(folder, "gone.csv")
    wait_for(lambda: executions_of(trigger).count() == 1, timeout=10, message=watcher.log())
    watcher.stop()
    assert paths_of(trigger) == ["gone.csv"]  # old.csv was there before: recorded, not fired

    (tmp_path / "outside").mkdir()
    drop(tmp_path / "outside", "secret.csv")
    (folder / "escape.csv").symlink_to(tmp_path / "outside" / "secret.csv")
    names = [f"new-{i}.csv" for i in range(10)]
    for name in names:
        drop(folder, name)
    with open(folder / "old.csv", "a") as handle:
        handle.write(", and changed while the watcher was down")
    (folder / "gone.csv").unlink()

    watcher = start_watcher()
    wait_for(lambda: executions_of(trigger).count() == 13, timeout=10, message=watcher.log())
    watcher.stop()
    watcher = start_watcher()
    time.sleep(1.5)

    events = sorted((e.input_data["event"], e.input_data["path"]) for e in executions_of(trigger))
    assert events == sorted(
        [("created", "gone.csv"), ("deleted", "gone.csv"), ("modified", "old.csv")]
        + [("created", name) for name in names]
    ), watcher.log()


def test_a_changed_config_applies_within_2_seconds_without_a_restart(
    alice_client, acme_agent, watch_root, start_watcher, wait_for
):
    folder = watch_root / "in"
    [trigger] = declare(
        alice_client, {"watch_path": str(folder), "patterns": ["*.csv"], "settle_seconds": 0.2}
    )
    watcher = start_watcher()

    changed = declare(
        alice_client, {"watch_path": str(folder), "patterns": ["*.txt"], "settle_seconds": 0.2}
    )
    assert changed == [trigger]  # updated in place
    time.sleep(2.0)
    drop(folder, "a.csv")
    closed = drop(folder, "a.txt")
    [execution] = wait_for(lambda: list(executions_of(trigger)), timeout=10, message=watcher.log())
    time.sleep(1.0)
    assert paths_of(trigger) == ["a.txt"]
    assert execution.created_at.timestamp() - closed < 0.2 + 1.0  # the live watch, not a rescan

    declare(alice_client, {"watch_path": str(folder), "patterns": ["*.txt"],
                           "settle_seconds": 0.2}, status="DISABLED")  # fmt: skip
    time.sleep(2.0)
    drop(folder, "b.txt")
    time.sleep(1.5)
    assert paths_of(trigger) == ["a.txt"]
    assert "no longer active: unwatched" in watcher.log()


def test_a_folder_that_disappears_makes_its_trigger_stale(
    alice_client, acme_agent, watch_root, start_watcher, wait_for
):
    folder = watch_root / "doomed"
    folder.mkdir()
    [trigger] = declare(alice_client, {"watch_path": str(folder)})
    watcher = start_watcher()

    shutil.rmtree(folder)
    gone_at = time.monotonic()

    wait_for(
        lambda: Trigger.objects.get(uuid=trigger).status == TriggerStatus.STALE,
        timeout=5,
        message=watcher.log(),
    )
    assert time.monotonic() - gone_at < 4.0  # checked every second
    shown = alice_client.get(f"/triggers/{trigger}").json()
    assert shown["status"] == "DISABLED"
    assert (
        shown["error_message"]
        == f"The watched folder '{folder}' does not exist or is not a directory."
    )
