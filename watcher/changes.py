"""What a settled change of a file is, and what its execution gets: pure, no database.

The event is decided against the ledger, not taken from inotify: a file the ledger does not
hold was *created*, one whose size or mtime differ from the ledger's was *modified*, a ledger
entry whose file is gone was *deleted*. So a file written while the watcher ran and one
found by the scan after a restart are named alike, and a burst of events for one file is one
change.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from watcher.choices import FileEvent
from watcher.folder_config import WatchConfig

Version = tuple[int, int]  # (size, mtime_ns)


@dataclass(frozen=True)
class FileChange:
    relative_path: str
    state: Version | None  # None: the file is gone


def change_event(known: Version | None, state: Version | None) -> tuple[str, Version] | None:
    """(event, the version it is about) for a file the ledger knows as ``known`` and that is
    now ``state``; None when nothing changed. A deletion is about the last known version."""
    if state is None:
        return (FileEvent.DELETED, known) if known is not None else None
    if known is None:
        return (FileEvent.CREATED, state)
    if known != state:
        return (FileEvent.MODIFIED, state)
    return None


def idempotency_key(event: str, relative_path: str, version: Version) -> str:
    """The execution's idempotency key: (event, path, size, mtime_ns), so one observation
    fires once, whoever observes it (the live watch, a scan after a restart, a second
    watcher). Hashed: a path may be longer than the key's column."""
    identity = json.dumps([event, relative_path, *version], ensure_ascii=False)
    return "file:" + hashlib.sha256(identity.encode()).hexdigest()


def iso_utc(mtime_ns: int) -> str:
    """``2026-12-02T09:30:00.123456Z``."""
    seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanoseconds // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def execution_input(config: WatchConfig, relative_path: str, event: str, version: Version) -> dict:
    """The execution's ``input_data`` (docs/watcher.md)."""
    size, mtime_ns = version
    return {
        "event": str(event),
        "path": relative_path,
        "watch_path": config.watch_path,
        "size": size,
        "modified_at": iso_utc(mtime_ns),
    }
