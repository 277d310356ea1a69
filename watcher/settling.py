"""The settle timer: a change is reported once the file has held still long enough.

Pure, no database, no filesystem: the caller passes the clock and a ``stat`` function. A file
written in several chunks produces many events; each one that finds a new state (size and
mtime, or "gone") starts the file's wait over, so the change is reported once, when the file
has been unchanged for its trigger's ``settle_seconds`` — and only if a last look (``stat``)
still finds that state.
"""

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from watcher.folders import State


@dataclass
class _Waiting:
    state: State
    due: float
    settle: float


@dataclass(frozen=True)
class Settled:
    key: Hashable
    state: State
    settle: float


class Settler:
    def __init__(self):
        self._waiting: dict[Hashable, _Waiting] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def observe(self, key: Hashable, state: State, *, now: float, settle: float) -> None:
        """``key`` (a trigger and a path) was seen in ``state``; a new state starts its
        wait over, the same state keeps the wait it has."""
        waiting = self._waiting.get(key)
        if waiting is None or waiting.state != state:
            self._waiting[key] = _Waiting(state, now + settle, settle)

    def next_due(self) -> float | None:
        return min((w.due for w in self._waiting.values()), default=None)

    def take_settled(self, *, now: float, stat: Callable[[Hashable], State]) -> list[Settled]:
        """The keys whose wait is over and whose state ``stat`` confirms, removed; a key
        found in another state waits again."""
        settled = []
        for key, waiting in list(self._waiting.items()):
            if waiting.due > now:
                continue
            state = stat(key)
            if state == waiting.state:
                del self._waiting[key]
                settled.append(Settled(key, state, waiting.settle))
            else:
                self._waiting[key] = _Waiting(state, now + waiting.settle, waiting.settle)
        return settled

    def retry(self, items: Iterable[Settled], *, at: float) -> None:
        """Put back settled items whose recording failed (the database was away)."""
        for item in items:
            self._waiting.setdefault(item.key, _Waiting(item.state, at, item.settle))

    def forget(self, drop: Callable[[Hashable], bool]) -> None:
        for key in [key for key in self._waiting if drop(key)]:
            del self._waiting[key]
