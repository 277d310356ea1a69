"""Cron maths, without the database.

Schedules are evaluated in the trigger's own IANA timezone and the result converted to
UTC: "09:00 every day" must stay 09:00 local across DST changes, which it would not if
it were evaluated in UTC.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadCronError, CroniterBadDateError, croniter

# A schedule with no slot within this many years never runs (February 29th comes every 4 to
# 8 years); it is refused when saved instead of failing the scheduler.
FIRES_WITHIN_YEARS = 10


def validate_cron_expression(expression: str) -> str:
    """The expression with whitespace normalised, or ValueError saying what is wrong.

    Five fields (minute hour day-of-month month day-of-week); ``@hourly``-style
    aliases are accepted. Seconds fields are refused: the scheduler works in minutes. An
    expression that never fires in the next FIRES_WITHIN_YEARS years is refused.
    """
    normalised = " ".join((expression or "").split())
    if not normalised:
        raise ValueError("A cron expression is required.")
    if not normalised.startswith("@") and len(normalised.split(" ")) != 5:
        raise ValueError(
            f"'{normalised}' is not a cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week)."
        )
    try:
        croniter(normalised)
    except (CroniterBadCronError, ValueError, KeyError) as error:
        raise ValueError(f"'{normalised}' is not a valid cron expression: {error}") from None
    try:
        croniter(
            normalised, datetime.now(UTC), max_years_between_matches=FIRES_WITHIN_YEARS
        ).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"'{normalised}' never fires in the next {FIRES_WITHIN_YEARS} years (a date that "
            "does not exist, such as February 30th or April 31st)."
        ) from None
    return normalised


def validate_timezone(name: str) -> str:
    """The IANA name, or ValueError for an unknown zone."""
    if name not in _zone_names():
        raise ValueError(f"'{name}' is not a known IANA timezone (for example 'Europe/Berlin').")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a known IANA timezone.") from None
    return name


def next_fire_after(expression: str, timezone_name: str, after: datetime) -> datetime:
    """The first scheduled slot strictly after ``after``, in UTC.

    DST, as Vixie cron does it: a wall-clock time skipped by the spring-forward change
    fires at the first instant after the gap (02:30 -> 03:00); a fixed time repeated by
    the fall-back change fires once, at its first occurrence. An expression with ``*``
    in the minute or hour field ("every 30 minutes", "every hour") is about elapsed
    time, not a wall-clock time, so it fires in both passes of a repeated hour.
    """
    return next(slots_after(expression, timezone_name, after))


def slots_after(expression: str, timezone_name: str, after: datetime) -> Iterator[datetime]:
    """Every slot strictly after ``after``, in order, in UTC, by ``next_fire_after``'s rules
    (DST included): one croniter walked on, which costs half of asking ``next_fire_after``
    for each slot in turn and gives the same slots."""
    zone = ZoneInfo(timezone_name)
    slots = croniter(expression, after.astimezone(zone))
    once_per_wall_time = not _has_wildcard_time(expression)
    while True:
        local_next = slots.get_next(datetime)
        if once_per_wall_time and _is_second_occurrence(local_next, zone):
            continue
        yield local_next.astimezone(UTC)


def slots_between(
    expression: str, timezone_name: str, start: datetime, end: datetime, *, limit: int
) -> list[datetime]:
    """The slots from ``start`` to ``end``, both included, in UTC; at most ``limit`` of them
    (a caller that gets ``limit`` back asks again from the last to know whether there are
    more)."""
    found: list[datetime] = []
    for slot in slots_after(expression, timezone_name, start - timedelta(microseconds=1)):
        if slot > end or len(found) >= limit:
            break
        found.append(slot)
    return found


class Window(NamedTuple):
    """Where a schedule's slots may fall: from ``starts_at`` (inclusive) to ``ends_at``
    (exclusive), in UTC; None is unbounded. A schedule without dates has ``Window()``."""

    starts_at: datetime | None = None
    ends_at: datetime | None = None


def day_start(day: date, timezone_name: str) -> datetime:
    """The first instant of ``day`` in the zone, in UTC: local midnight (on a day whose
    midnight a DST change skips, the first instant that exists)."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)


def date_window(timezone_name: str, *, on: date | None, until: date | None) -> Window:
    """The window of a schedule that runs only ``on`` one date and ``until`` a last date
    (either may be None), both read in the zone: from the start of ``on`` to the end of the
    earlier of the two days."""
    ends = [day_start(day + timedelta(days=1), timezone_name) for day in (on, until) if day]
    return Window(
        starts_at=day_start(on, timezone_name) if on else None,
        ends_at=min(ends) if ends else None,
    )


def first_slot_in(
    expression: str, timezone_name: str, window: Window, *, after: datetime | None = None
) -> datetime | None:
    """The first slot strictly after ``after`` (default: the window's start, which may itself
    be a slot) inside ``window``, in UTC; None if there is none."""
    if window.starts_at is not None and (after is None or window.starts_at > after):
        after = window.starts_at - timedelta(microseconds=1)  # the start itself may be a slot
    if after is None:
        raise ValueError("A window without a start needs ``after``.")
    slot = next_fire_after(expression, timezone_name, after)
    if window.ends_at is not None and slot >= window.ends_at:
        return None
    return slot


def _has_wildcard_time(expression: str) -> bool:
    if expression.startswith("@"):
        return expression in ("@hourly",)
    minute, hour = expression.split(" ")[:2]
    return "*" in minute or "*" in hour


def _is_second_occurrence(local: datetime, zone: ZoneInfo) -> bool:
    """Is ``local`` the second pass of a wall time that the fall-back change repeats?"""
    wall = local.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    return local.astimezone(UTC) == second.astimezone(UTC) != first.astimezone(UTC)


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


_ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip


def describe(expression: str, timezone_name: str) -> str:
    """The schedule in words: "At 09:00, Monday through Friday, America/New_York"."""
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        fields = _ALIASES.get(expression.strip().lower(), expression)
        words = ExpressionDescriptor(fields, options).get_description()
    except Exception:  # a descriptor's gap must never break the page: the raw expression
        words = expression
    return f"{words}, {timezone_name}"


def next_slots(expression: str, timezone_name: str, after: datetime, count: int) -> list[datetime]:
    """The ``count`` slots of the schedule after ``after`` (UTC)."""
    slots: list[datetime] = []
    for _ in range(count):
        after = next_fire_after(expression, timezone_name, after)
        slots.append(after)
    return slots
