"""api/timestamps.py: one format for a moment, UTC ending in Z (issue 20)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.timestamps import iso_z, with_z_timestamps


def test_iso_z_writes_utc_with_z():
    assert iso_z(datetime(2026, 12, 24, 14, 30, tzinfo=UTC)) == "2026-12-24T14:30:00Z"
    berlin = timezone(timedelta(hours=1))
    assert iso_z(datetime(2026, 12, 24, 15, 30, 0, 500, tzinfo=berlin)) == (
        "2026-12-24T14:30:00.000500Z"
    )


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2026-12-24T14:30:00+00:00", "2026-12-24T14:30:00Z"),
        ("2026-12-24T14:30:00.123456+00:00", "2026-12-24T14:30:00.123456Z"),
        ("2026-12-24 14:30:00+0000", "2026-12-24 14:30:00Z"),
        ("2026-12-24T14:30-00:00", "2026-12-24T14:30Z"),
        ("2026-12-24T14:30:00Z", "2026-12-24T14:30:00Z"),
        ("2026-12-24T15:30:00+01:00", "2026-12-24T15:30:00+01:00"),  # another offset: kept
        ("2026-12-24T14:00:00", "2026-12-24T14:00:00"),  # no offset: kept
        ("at 2026-12-24T14:30:00+00:00", "at 2026-12-24T14:30:00+00:00"),  # not a timestamp
        ("+00:00", "+00:00"),
    ],
)
def test_only_whole_utc_timestamps_are_rewritten(given, shown):
    assert with_z_timestamps(given) == shown


def test_json_values_are_walked():
    value = {"a": ["2026-12-24T14:30:00+00:00", 1, None, {"b": "2026-12-24T14:30:00+00:00"}]}
    assert with_z_timestamps(value) == {
        "a": ["2026-12-24T14:30:00Z", 1, None, {"b": "2026-12-24T14:30:00Z"}]
    }
