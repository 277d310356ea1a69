"""Cancel checks for every agent call in flight in this process, one query for them all.

A runner waiting on its agent asks, again and again, whether its attempt is still wanted
(cancelled, or taken back by the sweeper). An agent worker keeps a thousand calls in flight
(docs/runners.md): one query per call and check would be a thousand queries a second, each
taking one of the pool's few database connections. Instead one thread per process asks for
all the watched attempts at once, every ``interval()`` seconds, and each waiting call reads
its answer from memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

Attempt = tuple[int, int]  # (execution pk, retry_count): one attempt of one execution


class AttemptWatch:
    """``check(attempts)`` returns those of ``attempts`` no longer wanted; it is called from
    the watch's own thread, and an error there leaves every attempt wanted (``release()``
    then gives the thread's database connection back)."""

    def __init__(
        self,
        *,
        check: Callable[[set[Attempt]], set[Attempt]],
        interval: Callable[[], float],
        release: Callable[[], None] = lambda: None,
    ):
        self.check = check
        self.interval = interval
        self.release = release
        self._reset()
        # A forked child (a prefork pool process) starts with no thread and nothing watched.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[Attempt, int] = {}  # attempt -> how many calls watch it
        self._abandoned: set[Attempt] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, attempt: Attempt) -> Iterator[Callable[[], bool]]:
        """While inside, ``abandoned()`` (yielded) tells whether ``attempt`` is still wanted,
        as the last check found."""
        with self._lock:
            self._watched[attempt] = self._watched.get(attempt, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="attempt-watch", daemon=True)
                self._thread.start()
        self._wake.set()
        try:
            yield lambda: attempt in self._abandoned
        finally:
            with self._lock:
                left = self._watched.pop(attempt) - 1
                if left:
                    self._watched[attempt] = left
                else:
                    self._abandoned.discard(attempt)

    def watched(self) -> int:
        """How many attempts are watched now (the calls in flight of this process)."""
        return len(self._watched)

    def _run(self) -> None:
        while True:
            with self._lock:
                attempts = set(self._watched)
            if not attempts:
                self.release()  # idle: no connection held for nothing
                self._wake.clear()
                self._wake.wait()
                continue
            try:
                gone = self.check(attempts)
            except Exception:  # never dies: a missed check only delays a cancel
                logger.warning("Checking %d attempts for a cancel failed", len(attempts))
                gone = set()
            finally:
                self.release()
            with self._lock:
                self._abandoned |= gone & set(self._watched)
            threading.Event().wait(self.interval())
