"""The watcher service (``manage.py run_watcher``): watches, settle timer and ledger in one loop.

One thread owns all state. watchdog's observer (inotify on Linux) calls a handler per folder
from its threads, which only queues the event; this loop takes the events, looks at the file
(``folders.file_state``) and hands each (trigger, path) to the settle timer. Once a change has
settled, ``services.file_changes_record`` decides against the ledger what it is (created,
modified, deleted) and fires the trigger, in one transaction.

Every POLL_SECONDS the loop reads the active file_system triggers' ``config_hash`` and
``updated_at``: a new or changed trigger is (re)configured and its folder scanned against its
ledger, a trigger that is no longer active is unwatched. One watch per folder, shared by the
triggers that name it (recursive when any of them is). A folder that is gone makes its
triggers stale. Database errors are logged and retried a second later; nothing observed is
lost meanwhile, and a scan against the ledger catches up on anything missed.
"""

import contextlib
import errno
import logging
import math
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from executions import heartbeats
from triggers.models import Trigger
from watcher import selectors, services
from watcher.changes import FileChange
from watcher.folder_config import (
    WatchConfig,
    WatchConfigInvalid,
    resolved_roots,
    watch_config_parse,
)
from watcher.folders import file_state, relative_to, reportable, scan
from watcher.settling import Settler

logger = logging.getLogger("watcher")

POLL_SECONDS = 1.0  # how often trigger changes are looked for (they apply within 2 s)
RESCAN_SECONDS = 300.0  # a safety net: events lost to an inotify queue overflow, say
RETRY_SECONDS = 1.0  # after a database error
# The events that can change a file's state; opening and reading a file are not among them.
EVENT_TYPES = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent,
    FileMovedEvent, DirDeletedEvent, DirMovedEvent,
]  # fmt: skip


@dataclass
class _Watched:
    """A trigger being watched, as last read."""

    trigger_id: int
    config_hash: str
    updated_at: datetime
    config: WatchConfig
    next_scan: float = 0.0


@dataclass(eq=False)  # one object per folder, compared by identity
class _Folder:
    """One watch on one folder (resolved path), shared by the triggers that name it."""

    path: str
    trigger_ids: set[int] = field(default_factory=set)
    watch: ObservedWatch | None = None
    recursive: bool = False
    identity: tuple[int, int] | None = None  # (st_dev, st_ino): a replaced folder differs


class _QueueingHandler(FileSystemEventHandler):
    """Runs in watchdog's thread: only queues the event for the loop."""

    def __init__(self, folder: str, events: queue.Queue):
        self.folder = folder
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.events.put((self.folder, event))


def folder_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory at ``path``; None when there is no directory."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISDIR(found.st_mode) else None


class FolderWatcher:
    def __init__(self, *, roots=None, clock=time.monotonic, observer=None):
        self.roots = resolved_roots(settings.FILE_WATCH_ROOTS if roots is None else roots)
        self.clock = clock
        self.observer = observer if observer is not None else Observer()
        self.events: queue.Queue = queue.Queue()
        self.settler = Settler()
        self.watched: dict[int, _Watched] = {}
        self.folders: dict[str, _Folder] = {}
        self.ledgers_to_drop: set[int] = set()
        self.next_sync = 0.0
        self.ready = False

    # -- running -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def start(self) -> None:
        self.observer.start()
        logger.info("Watcher started; FILE_WATCH_ROOTS: %s", ", ".join(self.roots))

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=10)
        logger.info("Watcher stopped")

    def step(self, max_wait: float = POLL_SECONDS) -> None:
        """Wait for events until the next sync or settled change (at most ``max_wait``),
        then do what is due."""
        now = self.clock()
        due = min(self.next_sync, self.settler.next_due() or math.inf, now + max_wait)
        self._take_events(timeout=max(0.0, due - now))
        if self.clock() >= self.next_sync:
            self._sync()
        self._record_settled()
        self._beat()

    def _beat(self) -> None:
        """The watcher's heartbeat for the ops dashboard (at most one write a second)."""
        try:
            heartbeats.heartbeat("watcher", {"folders": len(self.folders)})
        except DatabaseError:  # the database is away: the next sync reports it
            close_old_connections()

    # -- events --------------------------------------------------------------------------

    def _take_events(self, *, timeout: float) -> None:
        try:
            first = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        states: dict = {}
        self._on_event(*first, states=states)
        while True:
            try:
                self._on_event(*self.events.get_nowait(), states=states)
            except queue.Empty:
                return

    def _on_event(self, folder_path: str, event: FileSystemEvent, *, states: dict) -> None:
        now = self.clock()  # when this file was seen so: its wait starts from here
        folder = self.folders.get(folder_path)
        if folder is None:
            return
        if event.is_directory:
            # A subfolder deleted or moved away takes its files without an event each;
            # the folder itself gone is seen by the next sync's check.
            if event.src_path != folder.path:
                for trigger_id in folder.trigger_ids:
                    self.watched[trigger_id].next_scan = now
            return
        for path in (event.src_path, event.dest_path):
            relative = relative_to(folder.path, os.fsdecode(path)) if path else None
            if not relative:
                continue
            for trigger_id in folder.trigger_ids:
                watched = self.watched[trigger_id]
                if not watched.config.wants(relative) or not reportable(relative):
                    continue
                if path not in states:  # one look per file and batch of events
                    states[path] = file_state(folder.path, relative)
                self.settler.observe(
                    (trigger_id, relative),
                    states[path],
                    now=now,
                    settle=watched.config.settle_seconds,
                )

    def _record_settled(self) -> None:
        now = self.clock()
        settled = self.settler.take_settled(now=now, stat=self._state_of)
        if not settled:
            return
        by_trigger: dict[int, list] = {}
        for item in settled:
            by_trigger.setdefault(item.key[0], []).append(item)
        batches = [
            services.TriggerChanges(
                trigger_id=trigger_id,
                config_hash=self.watched[trigger_id].config_hash,
                config=self.watched[trigger_id].config,
                changes=[FileChange(item.key[1], item.state) for item in items],
            )
            for trigger_id, items in by_trigger.items()
            if trigger_id in self.watched
        ]
        if not batches:
            return
        close_old_connections()
        try:
            results = services.file_changes_record(batches=batches)
        except Exception:  # the database is away: try again shortly
            logger.exception("Recording %d file changes failed; retrying", len(settled))
            self.settler.retry(settled, at=now + RETRY_SECONDS)
            return
        for batch in batches:
            recorded = results[batch.trigger_id]
            if recorded is None:  # changed meanwhile: the next sync reconfigures or rescans it
                self.next_sync = self.watched[batch.trigger_id].next_scan = now
                continue
            for outcome in recorded:
                self._log_recorded(batch.trigger_id, batch.config, outcome)

    def _state_of(self, key):
        trigger_id, relative = key
        watched = self.watched.get(trigger_id)
        return file_state(watched.config.folder, relative) if watched else None

    @staticmethod
    def _log_recorded(trigger_id: int, config: WatchConfig, outcome) -> None:
        where = f"trigger #{trigger_id}: {outcome.event} {config.folder}/{outcome.relative_path}"
        if outcome.refused:
            logger.warning("%s not fired: %s", where, outcome.refused)
        elif outcome.execution_id and outcome.duplicate:
            logger.info("%s: fired before (execution %s)", where, outcome.execution_id)
        elif outcome.execution_id:
            logger.info("%s: execution %s", where, outcome.execution_id)
        else:
            logger.debug("%s recorded (not among its events)", where)

    # -- triggers and folders --------------------------------------------------------------

    def _sync(self) -> None:
        """Apply trigger changes, check the folders, rescan what is due."""
        now = self.clock()
        self.next_sync = now + POLL_SECONDS
        close_old_connections()
        try:
            if not self.ready:
                services.ledgers_drop_unwatched()
            if self.ledgers_to_drop:
                services.ledgers_drop(trigger_ids=self.ledgers_to_drop)
                self.ledgers_to_drop.clear()
            versions = selectors.watched_trigger_versions()
            gone = self.watched.keys() - versions.keys()
            for trigger_id in gone:
                logger.info("Trigger #%d is no longer active: unwatched", trigger_id)
                self._unwatch(trigger_id, drop_ledger=True)
            changed = [
                trigger_id
                for trigger_id, version in versions.items()
                if trigger_id not in self.watched
                or (self.watched[trigger_id].config_hash, self.watched[trigger_id].updated_at)
                != version
            ]
            for trigger in selectors.watched_triggers(ids=changed) if changed else []:
                self._watch(trigger, now)
        except Exception:  # the database is away: keep watching, try again shortly
            logger.exception("Reading the file_system triggers failed; retrying")
            return
        self._check_folders(now)
        for watched in list(self.watched.values()):
            if watched.next_scan <= now and self.watched.get(watched.trigger_id) is watched:
                self._scan(watched, now)
        if not self.ready:
            self.ready = True
            logger.info(
                "Watcher ready: %d triggers, %d folders", len(self.watched), len(self.folders)
            )

    def _watch(self, trigger: Trigger, now: float) -> None:
        """Watch ``trigger`` with its current config (it is new or changed)."""
        try:
            config = watch_config_parse(trigger.config, roots=self.roots)
        except (WatchConfigInvalid, AttributeError) as invalid:
            self._unusable({trigger.pk: f"Not watched: its config is invalid ({invalid})."})
            return
        if folder_identity(config.folder) is None:
            self._unusable({trigger.pk: _missing(config)})
            return
        previous = self.watched.get(trigger.pk)
        left = self._unwatch(trigger.pk, drop_ledger=False, place=False)
        watched = _Watched(trigger.pk, trigger.config_hash, trigger.updated_at, config)
        self.watched[trigger.pk] = watched
        verb = "watching" if previous is None else "changed, watching"
        logger.info("Trigger #%d: %s %s", trigger.pk, verb, config.folder)
        folder = self.folders.setdefault(config.folder, _Folder(config.folder))
        folder.trigger_ids.add(trigger.pk)
        if left is not None and left is not folder:
            self._place_watch(left)
        if self._place_watch(folder):
            self._scan(watched, now)

    def _unwatch(self, trigger_id: int, *, drop_ledger: bool, place: bool = True):
        """Stop watching the trigger; returns the folder it left (its watch adjusted
        unless ``place`` is false)."""
        watched = self.watched.pop(trigger_id, None)
        self.settler.forget(lambda key: key[0] == trigger_id)
        if drop_ledger:
            self.ledgers_to_drop.add(trigger_id)
        folder = self.folders.get(watched.config.folder) if watched is not None else None
        if folder is not None:
            folder.trigger_ids.discard(trigger_id)
            if place:
                self._place_watch(folder)
        return folder

    def _place_watch(self, folder: _Folder) -> bool:
        """Give ``folder`` the watch its triggers need (none when it has none left); False
        when it could not be watched (its triggers are then stale)."""
        if not folder.trigger_ids:
            self._unschedule(folder)
            del self.folders[folder.path]
            return False
        recursive = any(self.watched[t].config.recursive for t in folder.trigger_ids)
        identity = folder_identity(folder.path)
        if folder.watch is not None and (folder.recursive, folder.identity) == (
            recursive,
            identity,
        ):
            return True
        self._unschedule(folder)
        try:
            folder.watch = self.observer.schedule(
                _QueueingHandler(folder.path, self.events),
                folder.path,
                recursive=recursive,
                event_filter=EVENT_TYPES,
            )
        except OSError as error:
            self._unusable(dict.fromkeys(folder.trigger_ids, _watch_failed(folder.path, error)))
            return False
        folder.recursive, folder.identity = recursive, identity
        logger.info("Watching %s%s", folder.path, " (recursive)" if recursive else "")
        # Events between two watches were missed: the ledger tells what changed.
        for trigger_id in folder.trigger_ids:
            self.watched[trigger_id].next_scan = 0.0
        return True

    def _unschedule(self, folder: _Folder) -> None:
        if folder.watch is not None:
            # KeyError, OSError: its emitter stopped itself (the folder went).
            with contextlib.suppress(KeyError, OSError):
                self.observer.unschedule(folder.watch)
            folder.watch = None

    def _check_folders(self, now: float) -> None:
        """A folder that is gone makes its triggers stale; one replaced (another directory
        at its path) is watched again and rescanned."""
        for folder in list(self.folders.values()):
            identity = folder_identity(folder.path)
            if identity is None:
                self._unusable({t: _missing(self.watched[t].config) for t in folder.trigger_ids})
            elif identity != folder.identity:
                logger.warning("%s was replaced by another directory: watching it", folder.path)
                self._place_watch(folder)

    def _scan(self, watched: _Watched, now: float) -> None:
        """Compare the trigger's folder with its ledger; differences go to the settle timer
        (a new ledger is started when there is none for this scope)."""
        config = watched.config
        watched.next_scan = now + RESCAN_SECONDS
        try:
            files = scan(config.folder, recursive=config.recursive, wanted=config.wants)
        except OSError as error:
            reason = (
                _missing(config)
                if folder_identity(config.folder) is None
                else f"The watched folder '{config.watch_path}' cannot be read: {error}."
            )
            self._unusable({watched.trigger_id: reason})
            return
        try:
            ledger = selectors.ledger_get(trigger_id=watched.trigger_id)
            if ledger is None or ledger.scan_key != config.scan_key:
                newer = services.ledger_start(
                    trigger_id=watched.trigger_id,
                    scan_key=config.scan_key,
                    files=files,
                    since=watched.updated_at,
                )
                logger.info(
                    "Trigger #%d: ledger started, %d files already there, %d newer to fire",
                    watched.trigger_id, len(files) - len(newer), len(newer),
                )  # fmt: skip
                changes = {path: files[path] for path in newer}
            else:
                known = selectors.ledger_states(trigger_id=watched.trigger_id)
                changes = {path: s for path, s in files.items() if known.get(path) != s}
                changes.update(dict.fromkeys(known.keys() - files.keys()))
        except Exception:  # the database is away: scan again shortly
            logger.exception("Scanning %s against its ledger failed; retrying", config.folder)
            watched.next_scan = now + RETRY_SECONDS
            return
        if changes:
            logger.info(
                "Trigger #%d: %d changes found by the scan of %s",
                watched.trigger_id, len(changes), config.folder,
            )  # fmt: skip
        for relative, state in changes.items():
            self.settler.observe(
                (watched.trigger_id, relative), state, now=now, settle=config.settle_seconds
            )

    def _unusable(self, reasons: dict[int, str]) -> None:
        """These triggers cannot be watched as configured: stale, each with its reason."""
        left = {self._unwatch(t, drop_ledger=False, place=False) for t in reasons}
        for folder in left - {None}:
            if self.folders.get(folder.path) is folder:
                self._place_watch(folder)
        by_reason: dict[str, list[int]] = {}
        for trigger_id, reason in sorted(reasons.items()):
            by_reason.setdefault(reason, []).append(trigger_id)
        for reason, trigger_ids in by_reason.items():
            logger.warning(
                "Trigger(s) %s stale: %s", ", ".join(f"#{t}" for t in trigger_ids), reason
            )
            try:
                services.triggers_folder_unusable(trigger_ids=trigger_ids, reason=reason)
            except Exception:  # still active: the next sync watches them again and retries
                logger.exception("Marking triggers stale failed; retrying")


def _missing(config: WatchConfig) -> str:
    return f"The watched folder '{config.watch_path}' does not exist or is not a directory."


def _watch_failed(path: str, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return (
            f"Cannot watch '{path}': the inotify watch limit is reached "
            "(raise fs.inotify.max_user_watches; docs/watcher.md)."
        )
    if error.errno == errno.EMFILE:
        return (
            f"Cannot watch '{path}': the inotify instance limit is reached "
            "(raise fs.inotify.max_user_instances; docs/watcher.md)."
        )
    return f"Cannot watch '{path}': {error}."
