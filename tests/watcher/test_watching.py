"""The watcher's loop in this process (real inotify, the test's database connection): it
survives database errors."""

import time

import pytest
from django.db import OperationalError

from executions.models import Execution
from watcher import selectors, services, watching


@pytest.fixture
def loop(watch_root, monkeypatch):
    # Inside the test's transaction a connection must not be closed as "unusable".
    monkeypatch.setattr(watching, "close_old_connections", lambda: None)
    watcher = watching.FolderWatcher(roots=[watch_root])
    watcher.start()
    yield watcher
    watcher.close()


def run_until(watcher, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        watcher.step(max_wait=0.1)


def failing_once(monkeypatch, module, name):
    real, calls = getattr(module, name), []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


def test_a_database_error_while_firing_is_retried(
    acme, make_trigger, watch_root, loop, monkeypatch, caplog
):
    folder = watch_root / "in"
    make_trigger(acme, "file_system", config={"watch_path": str(folder), "settle_seconds": 0})
    run_until(loop, lambda: loop.ready)
    calls = failing_once(monkeypatch, services, "file_changes_record")

    (folder / "a.csv").write_text("x")
    run_until(loop, lambda: Execution.objects.exists())

    assert len(calls) == 2
    assert "Recording 1 file changes failed; retrying" in caplog.text
    assert Execution.objects.get().input_data["path"] == "a.csv"


def test_a_database_error_while_syncing_is_retried(
    acme, make_trigger, watch_root, loop, monkeypatch, caplog
):
    folder = watch_root / "in"
    calls = failing_once(monkeypatch, selectors, "watched_trigger_versions")
    make_trigger(acme, "file_system", config={"watch_path": str(folder), "settle_seconds": 0})

    run_until(loop, lambda: loop.ready)
    (folder / "a.csv").write_text("x")
    run_until(loop, lambda: Execution.objects.exists())

    assert len(calls) >= 2
    assert "Reading the file_system triggers failed; retrying" in caplog.text
