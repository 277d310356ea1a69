"""Cron maths, without the database.

Schedules are evaluated in the trigger's own IANA timezone and the result converted to
UTC: "09:00 every day" must stay 09:00 local across DST changes, which it would not if
it were evaluated in UTC.
"""

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, croniter


def validate_cron_expression(expression: str) -> str:
    """The expression with whitespace normalised, or ValueError saying what is wrong.

    Five fields (minute hour day-of-month month day-of-week); ``@hourly``-style
    aliases are accepted. Seconds fields are refused: the scheduler works in minutes.
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
    zone = ZoneInfo(timezone_name)
    slots = croniter(expression, after.astimezone(zone))
    once_per_wall_time = not _has_wildcard_time(expression)
    while True:
        local_next = slots.get_next(datetime)
        if once_per_wall_time and _is_second_occurrence(local_next, zone):
            continue
        return local_next.astimezone(UTC)


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
