"""A file_system trigger's config, checked and with its defaults: pure, no database.

``{"watch_path": "/srv/in", "patterns": ["*.csv"], "events": ["created"], "recursive": false,
"settle_seconds": 1}`` (docs/watcher.md). Only ``watch_path`` is required; it must lie inside
one of the roots (``FILE_WATCH_ROOTS``) once ``..`` and symlinks are resolved, so a trigger can
never watch, or learn about, a folder outside them.
"""

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.choices import FileEvent
from watcher.patterns import PATTERN_MAX_LENGTH, PATTERNS_MAX, compile_patterns

logger = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*",)
DEFAULT_EVENTS = (FileEvent.CREATED.value,)
DEFAULT_SETTLE_SECONDS = 1.0
MAX_SETTLE_SECONDS = 3600
EVENT_NAMES = tuple(event.value for event in FileEvent)


class WatchConfigInvalid(ValueError):
    """``errors``: {config key (``config.watch_path``): message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class WatchConfig:
    watch_path: str  # as configured (the executions' input shows it)
    folder: str  # watch_path with ``..`` and symlinks resolved: what is watched
    patterns: tuple[str, ...]
    events: frozenset[str]
    recursive: bool
    settle_seconds: float

    @property
    def scan_key(self) -> str:
        """What decides which files a trigger's ledger holds: another folder, other patterns
        or another depth start its ledger over (docs/watcher.md, "The first scan")."""
        scope = [self.folder, list(self.patterns), self.recursive]
        return hashlib.sha256(json.dumps(scope).encode()).hexdigest()

    def wants(self, relative_path: str) -> bool:
        """Does a file at ``relative_path`` (``/``-separated) belong to this trigger?"""
        if not self.recursive and "/" in relative_path:
            return False
        return compile_patterns(self.patterns)(relative_path)


def resolved_roots(roots: Iterable) -> list[str]:
    return [os.path.realpath(os.fspath(root)) for root in roots]


def is_inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def watch_config_parse(config: dict, *, roots: Iterable) -> WatchConfig:
    """The config with its defaults; raises WatchConfigInvalid naming each bad key."""
    roots = resolved_roots(roots)
    errors: dict[str, str] = {}
    folder = _folder(config.get("watch_path"), roots, errors)
    patterns = _patterns(config.get("patterns", list(DEFAULT_PATTERNS)), errors)
    events = _events(config.get("events", list(DEFAULT_EVENTS)), errors)
    recursive = config.get("recursive", False)
    if not isinstance(recursive, bool):
        errors["config.recursive"] = "Must be true or false."
    settle = config.get("settle_seconds", DEFAULT_SETTLE_SECONDS)
    if (
        isinstance(settle, bool)
        or not isinstance(settle, int | float)
        or not math.isfinite(settle)
        or not 0 <= settle <= MAX_SETTLE_SECONDS
    ):
        errors["config.settle_seconds"] = (
            f"Must be a number of seconds from 0 to {MAX_SETTLE_SECONDS}."
        )
    if errors:
        raise WatchConfigInvalid(errors)
    return WatchConfig(
        watch_path=config["watch_path"],
        folder=folder,
        patterns=patterns,
        events=events,
        recursive=recursive,
        settle_seconds=float(settle),
    )


def _folder(watch_path, roots: list[str], errors: dict) -> str:
    named = ", ".join(roots) or "(none)"
    if not isinstance(watch_path, str) or not watch_path.strip():
        errors["config.watch_path"] = (
            f"Must be the absolute path of a folder inside FILE_WATCH_ROOTS: {named}."
        )
        return ""
    if "\x00" in watch_path or not os.path.isabs(watch_path):
        errors["config.watch_path"] = (
            f"'{watch_path}' is not an absolute path; it must lie inside FILE_WATCH_ROOTS: {named}."
        )
        return ""
    folder = os.path.realpath(watch_path)
    if not any(is_inside(folder, root) for root in roots):
        if folder == os.path.normpath(watch_path):
            errors["config.watch_path"] = f"'{watch_path}' is outside FILE_WATCH_ROOTS: {named}."
        else:
            # Where the symlink leads is the machine's to know, not the tenant's: the log.
            logger.warning("Refused watch_path %r: it resolves to %r", watch_path, folder)
            errors["config.watch_path"] = (
                f"'{watch_path}' is a symlink outside the watched roots (FILE_WATCH_ROOTS: "
                f"{named})."
            )
    return folder


def _patterns(patterns, errors: dict) -> tuple[str, ...]:
    if (
        not isinstance(patterns, list)
        or not patterns
        or len(patterns) > PATTERNS_MAX
        or not all(isinstance(p, str) and p for p in patterns)
    ):
        errors["config.patterns"] = (
            f"Must be a list of 1 to {PATTERNS_MAX} glob patterns (non-empty strings), "
            'e.g. ["*.csv"].'
        )
        return ()
    for pattern in patterns:
        if len(pattern) > PATTERN_MAX_LENGTH:
            errors["config.patterns"] = f"A pattern is at most {PATTERN_MAX_LENGTH} characters."
        elif pattern.startswith("/"):
            errors["config.patterns"] = (
                f"'{pattern}': patterns match the path relative to watch_path, without a "
                "leading '/'."
            )
    return tuple(patterns)


def _events(events, errors: dict) -> frozenset[str]:
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and e in EVENT_NAMES for e in events)
    ):
        errors["config.events"] = f"Must be a non-empty list of {', '.join(EVENT_NAMES)}."
        return frozenset()
    return frozenset(events)
