"""Work budgets: how much time and memory a check that a trigger's owner writes may spend on
what a sender feeds it.

An input schema or a JMESPath expression is the owner's; the body it runs on is the sender's.
Some pairs cost far more than the body's size (an ``allOf`` that doubles the work at each
level, ``[@,@]`` repeated, ``uniqueItems`` on objects), and one such request would hold a web
worker until it is killed. So each such check runs on a budget, and stops when it is spent:

- steps, which the check charges as it works (a keyword, a node of an expression, an element
  it walks); deterministic, so a test sees the same verdict on any machine;
- a deadline on the clock, for the work a step does not see (C code that compares or
  serialises large values);
- memory: the bytes the check makes (values, error messages), counted as they are made.

A budget grows with the input (``budget_for``): a body twice as large may take twice as long,
as reading it does; a check that costs more than that is refused, never left to run.

One delivery runs several checks (its filter, input schema, idempotency key, transform):
inside ``one_budget`` they spend one budget between them (``meter_for``), so a trigger with
five costly checks costs what one may, not five times that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

BASE_STEPS = 100_000
STEPS_PER_BYTE = 4
BASE_SECONDS = 0.25
SECONDS_PER_MIB = 2.0
BASE_MEMORY = 8 * 1024 * 1024
MEMORY_PER_BYTE = 24

_CLOCK_EVERY = 64  # steps between two looks at the clock


class BudgetExceeded(Exception):
    """A check spent its budget; the message says which part (``took more than …``)."""


@dataclass(frozen=True)
class Budget:
    steps: int
    seconds: float
    memory: int


def budget_for(input_bytes: int) -> Budget:
    """The budget of a check on an input of ``input_bytes`` bytes (see module)."""
    size = max(int(input_bytes), 0)
    return Budget(
        steps=BASE_STEPS + STEPS_PER_BYTE * size,
        seconds=BASE_SECONDS + SECONDS_PER_MIB * size / (1024 * 1024),
        memory=BASE_MEMORY + MEMORY_PER_BYTE * size,
    )


class Meter:
    """One check's spending against its ``budget``; raises BudgetExceeded when it is spent."""

    __slots__ = ("_deadline", "_next_look", "budget", "memory", "steps")

    def __init__(self, budget: Budget, *, not_after: float | None = None):
        """``not_after``: a ``time.monotonic()`` it never runs past, however large the
        budget (a request's own deadline over several inputs)."""
        self.budget = budget
        self.steps = 0
        self.memory = 0
        deadline = time.monotonic() + budget.seconds
        self._deadline = deadline if not_after is None else min(deadline, not_after)
        self._next_look = _CLOCK_EVERY

    def charge(self, steps: int = 1) -> None:
        """Count ``steps`` more; the limits are looked at every few dozen steps."""
        self.steps += steps
        if self.steps >= self._next_look:
            self._next_look = self.steps + _CLOCK_EVERY
            if self.steps > self.budget.steps:
                raise BudgetExceeded(f"took more than {self.budget.steps:,} steps")
            if time.monotonic() > self._deadline:
                raise BudgetExceeded(f"took longer than {self.budget.seconds:.2f} s")

    def refund(self, steps: int) -> None:
        """Give back ``steps`` a check took, when what it found is thrown away and the work
        done again another way (a plain input schema's quick check that was not sure)."""
        self.steps -= steps
        self._next_look = min(self._next_look, self.steps + _CLOCK_EVERY)

    def allocate(self, size: int) -> None:
        """Count ``size`` more bytes made."""
        self.memory += size
        if self.memory > self.budget.memory:
            raise BudgetExceeded(f"made more than {self.budget.memory:,} bytes")


# The meter of the enclosing one_budget: the one every check inside spends.
_SHARED: ContextVar[Meter | None] = ContextVar("shared_meter", default=None)


def meter_for(input_bytes: int) -> Meter:
    """The meter a check spends: the enclosing ``one_budget``'s, or outside one a budget of
    its own for an input of ``input_bytes``."""
    shared = _SHARED.get()
    return shared if shared is not None else Meter(budget_for(input_bytes))


@contextmanager
def one_budget(input_bytes: int, *, not_after: float | None = None) -> Iterator[Meter]:
    """Every check run inside spends one budget, ``budget_for(input_bytes)``, between them:
    the checks of one delivery cost at most what one check may (see module)."""
    token = _SHARED.set(Meter(budget_for(input_bytes), not_after=not_after))
    try:
        yield _SHARED.get()
    finally:
        _SHARED.reset(token)
