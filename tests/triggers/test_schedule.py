"""Cron maths, without the database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from triggers.schedule import (
    Window,
    date_window,
    first_slot_in,
    next_fire_after,
    slots_between,
    validate_cron_expression,
    validate_timezone,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("*/5 * * * *", "*/5 * * * *"), ("  0   9 * * 1-5 ", "0 9 * * 1-5"), ("@hourly", "@hourly")],
)
def test_it_accepts_and_normalises_cron_expressions(given, expected):
    assert validate_cron_expression(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "required"),
        ("* * * *", "expected 5 fields"),
        ("0 0 * * * *", "expected 5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("every day", "expected 5 fields"),
        ("* * 32 * *", "not a valid cron expression"),
    ],
)
def test_it_rejects_bad_cron_expressions(given, message):
    with pytest.raises(ValueError, match=message):
        validate_cron_expression(given)


def test_it_knows_iana_timezones():
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(ValueError, match="IANA"):
        validate_timezone("Mars/Olympus")


def test_next_fire_is_computed_in_local_time_and_returned_in_utc():
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 in Berlin (CEST, UTC+2)
    assert next_fire_after("0 9 * * *", "Europe/Berlin", after) == datetime(
        2026, 7, 2, 7, 0, tzinfo=UTC
    )
    # In winter Berlin is UTC+1, so the same 09:00 local is 08:00 UTC.
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert next_fire_after("0 9 * * *", "Europe/Berlin", winter) == datetime(
        2026, 1, 11, 8, 0, tzinfo=UTC
    )


def test_next_fire_is_strictly_after():
    at_slot = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert next_fire_after("*/5 * * * *", "UTC", at_slot) == datetime(
        2026, 3, 1, 10, 10, tzinfo=UTC
    )


# -- a schedule's window (issue 20: config.date, config.expirationDate) -------------------------


def test_a_date_window_is_read_in_the_time_zone():
    assert date_window("UTC", on=None, until=None) == Window()
    assert date_window("Europe/Berlin", on=date(2026, 12, 24), until=None) == Window(
        datetime(2026, 12, 23, 23, 0, tzinfo=UTC), datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    )
    # The earlier end wins; the one-time date starts it.
    assert date_window("UTC", on=date(2026, 12, 24), until=date(2026, 12, 24)).ends_at == (
        datetime(2026, 12, 25, tzinfo=UTC)
    )
    assert date_window("UTC", on=None, until=date(2027, 1, 31)) == Window(
        None, datetime(2027, 2, 1, tzinfo=UTC)
    )


def test_the_first_slot_in_a_window():
    day = date_window("UTC", on=date(2026, 12, 24), until=None)
    assert first_slot_in("0 0 * * *", "UTC", day) == datetime(2026, 12, 24, tzinfo=UTC)
    assert first_slot_in("30 14 * * *", "UTC", day) == datetime(2026, 12, 24, 14, 30, tzinfo=UTC)
    after = datetime(2026, 12, 24, 15, tzinfo=UTC)
    assert first_slot_in("30 14 * * *", "UTC", day, after=after) is None
    assert first_slot_in("0 9 * * 1", "UTC", day) is None  # a Thursday: no Monday slot


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin"])
@pytest.mark.parametrize("expression", ["30 1 * * *", "30 2 * * *", "*/30 * * * *", "0 9 * * 1-5"])
def test_a_range_of_slots_is_next_fire_after_asked_again_and_again(zone, expression):
    """Both DST changes of 2026 in both zones, both ends included."""
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    expected, slot = [], start - timedelta(microseconds=1)
    while (slot := next_fire_after(expression, zone, slot)) <= end:
        expected.append(slot)

    assert slots_between(expression, zone, start, end, limit=100_000) == expected
    assert slots_between(expression, zone, expected[0], expected[9], limit=100) == expected[:10]
    assert slots_between(expression, zone, start, end, limit=5) == expected[:5]
