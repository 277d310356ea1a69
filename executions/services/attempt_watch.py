"""Cancel checks for every agent call in flight in this process, one query for them all.

A runner waiting on its agent must learn when its attempt is no longer wanted (cancelled, or
taken back by the sweeper). An agent worker keeps a thousand calls in flight
(docs/runners.md): one query per call and check would be a thousand queries a second, each
taking one of the pool's few database connections. Instead one thread per process asks for
all the watched attempts at once, every ``interval()`` seconds; a call found no longer
wanted is woken at once (its ``on_abandon``: the HTTP exchange shuts its socket down), so a
waiting call spends no CPU on asking.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

Attempt = tuple[int, int]  # (execution pk, retry_count): one attempt of one execution


class Abandoned:
    """One call's view of its attempt: true once the watch found it no longer wanted."""

    __slots__ = ("_abandoned", "attempt", "on_abandon")

    def __init__(self, attempt: Attempt, abandoned: set[Attempt]):
        self.attempt = attempt
        self._abandoned = abandoned
        self.on_abandon: Callable[[], None] | None = None  # set by the waiting call

    def __call__(self) -> bool:
        return self.attempt in self._abandoned

    def wake(self) -> None:
        callback = self.on_abandon
        if callback is not None:
            try:
                callback()
            except Exception:  # a waiter's wake-up must not stop the watch
                logger.exception("Waking an abandoned call failed")


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
        self._watched: dict[Attempt, list[Abandoned]] = {}  # attempt -> the calls watching
        self._abandoned: set[Attempt] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, attempt: Attempt) -> Iterator[Abandoned]:
        """While inside, the yielded ``abandoned()`` tells whether ``attempt`` is still
        wanted, as the last check found; its ``on_abandon``, when the caller sets one, is
        called (from the watch's thread) the moment a check finds it is not."""
        abandoned = Abandoned(attempt, self._abandoned)
        with self._lock:
            self._watched.setdefault(attempt, []).append(abandoned)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="attempt-watch", daemon=True)
                self._thread.start()
        self._wake.set()
        try:
            yield abandoned
        finally:
            with self._lock:
                left = self._watched.pop(attempt)
                left.remove(abandoned)
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
                gone &= set(self._watched)
                self._abandoned |= gone
                woken = [waiter for attempt in gone for waiter in self._watched[attempt]]
            for waiter in woken:
                waiter.wake()
            threading.Event().wait(self.interval())
