"""Cron maths, without the database."""

from datetime import UTC, datetime

import pytest

from triggers.schedule import next_fire_after, validate_cron_expression, validate_timezone


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
