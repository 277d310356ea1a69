"""The firing rules as pure functions: misfires, overlap, limits and retry backoff.

The scheduler, the webhook pipeline and the worker gather the facts (slots, counts) from
the database and ask these functions what to do; keeping the rules here keeps them in
one place and testable without a database.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triggers import schedule
from triggers.choices import MisfirePolicy, OverlapPolicy

# Catching up never creates more than this many executions for one trigger in one pass.
MAX_CATCH_UP_SLOTS = 1000


@dataclass(frozen=True)
class SlotPlan:
    """The due slots of one trigger, split into those to run and those to skip."""

    run: list[datetime]
    skipped: list[datetime] = field(default_factory=list)
    next_fire_at: datetime | None = None


def plan_due_slots(
    *,
    cron_expression: str,
    timezone_name: str,
    next_fire_at: datetime,
    now: datetime,
    misfire_policy: str,
    misfire_window_seconds: int,
    grace_seconds: int,
) -> SlotPlan:
    """Which of the slots from ``next_fire_at`` up to ``now`` run, and the next slot after.

    A slot no older than ``grace_seconds`` is on time and always runs. Older ones were
    missed (the service was down) and follow the trigger's misfire policy:
    ``skip`` runs none; ``run_once`` runs only the newest missed slot; ``run_all`` runs
    every missed slot within ``misfire_window_seconds`` of now. The skipped slots are
    returned so the caller can record them.
    """
    due: list[datetime] = []
    slot = next_fire_at
    while slot <= now and len(due) < MAX_CATCH_UP_SLOTS:
        due.append(slot)
        slot = schedule.next_fire_after(cron_expression, timezone_name, slot)
    while slot <= now:  # more than MAX_CATCH_UP_SLOTS behind: jump ahead
        slot = schedule.next_fire_after(cron_expression, timezone_name, now)
    on_time_after = now - timedelta(seconds=grace_seconds)
    on_time = [s for s in due if s >= on_time_after]
    missed = [s for s in due if s < on_time_after]
    if not missed:
        return SlotPlan(run=on_time, next_fire_at=slot)
    if misfire_policy == MisfirePolicy.SKIP:
        run_missed: list[datetime] = []
    elif misfire_policy == MisfirePolicy.RUN_ALL:
        window_start = now - timedelta(seconds=misfire_window_seconds)
        run_missed = [s for s in missed if s >= window_start]
    else:  # RUN_ONCE: one catch-up run stands for them all
        run_missed = [] if on_time else missed[-1:]
    skipped = [s for s in missed if s not in run_missed]
    return SlotPlan(run=run_missed + on_time, skipped=skipped, next_fire_at=slot)


def overlap_allows(*, overlap_policy: str, pending: int, running: int) -> bool:
    """May a new scheduled execution be created, given the trigger's unfinished ones?"""
    if overlap_policy == OverlapPolicy.ALLOW:
        return True
    if overlap_policy == OverlapPolicy.BUFFER_ONE:
        return pending == 0  # one may wait behind a running one, no more
    return pending == 0 and running == 0


@dataclass(frozen=True)
class LimitVerdict:
    allowed: bool
    reason: str = ""
    retry_after_seconds: int = 0


def limit_verdict(
    *,
    max_per_hour: int | None,
    max_per_day: int | None,
    hour_count: int,
    oldest_in_hour: datetime | None,
    day_count: int,
    oldest_in_day: datetime | None,
    now: datetime,
) -> LimitVerdict:
    """Whether one more firing fits the trigger's rolling per-hour and per-day limits.

    The windows roll (the last 60 minutes, the last 24 hours), so a burst at 10:59 is
    not followed by another at 11:00. The retry-after is when the oldest counted
    execution leaves the window that is full.
    """
    if max_per_hour is not None and hour_count >= max_per_hour:
        frees_at = (oldest_in_hour or now) + timedelta(hours=1)
        return LimitVerdict(
            False,
            f"Over the limit of {max_per_hour} executions per hour.",
            _seconds_until(frees_at, now),
        )
    if max_per_day is not None and day_count >= max_per_day:
        frees_at = (oldest_in_day or now) + timedelta(days=1)
        return LimitVerdict(
            False,
            f"Over the limit of {max_per_day} executions per day.",
            _seconds_until(frees_at, now),
        )
    return LimitVerdict(True)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def retry_delay_seconds(
    retry_count: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": uniform in [c/2, c], c = min(cap, base * 2**n).

    The jitter spreads retries of executions that failed together (an agent runtime
    outage); the lower half-bound keeps a retry from coming back at once.
    """
    ceiling = min(cap, base * (2**retry_count))
    return (rng or random).uniform(ceiling / 2, ceiling)
