"""When polls happen: pure rules, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from polling import rules

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_the_next_poll_keeps_the_cadence_despite_lag():
    due = NOW - timedelta(seconds=1.5)

    assert rules.next_poll_after_claim(due_at=due, now=NOW, interval=60) == due + timedelta(
        seconds=60
    )


def test_a_poller_far_behind_polls_one_interval_from_now():
    due = NOW - timedelta(minutes=10)

    assert rules.next_poll_after_claim(due_at=due, now=NOW, interval=60) == NOW + timedelta(
        seconds=60
    )


def test_the_minimum_interval_wins_over_a_shorter_one():
    assert rules.effective_interval(10, minimum=60) == 60
    assert rules.effective_interval(None, minimum=1) == 60
    assert rules.effective_interval(300, minimum=60) == 300


@pytest.mark.parametrize(
    ("failures", "expected"), [(1, 120), (2, 240), (5, 1920), (6, 3600), (40, 3600)]
)
def test_failures_back_off_exponentially_to_an_hour(failures, expected):
    assert rules.delay_after_failure(interval=60, failures=failures, retry_after=None) == expected


def test_retry_after_is_honoured_within_bounds():
    assert rules.delay_after_failure(interval=1, failures=1, retry_after=30) == 30
    assert rules.delay_after_failure(interval=60, failures=1, retry_after=30) == 60
    assert rules.delay_after_failure(interval=60, failures=1, retry_after=10**9) == 86400


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30", 30.0), (" 120 ", 120.0), ("Wed, 02 Dec 2026 10:01:00 GMT", 60.0),
     ("Wed, 02 Dec 2026 09:00:00 GMT", 0.0), ("soon", None), ("", None), (None, None)],
)  # fmt: skip
def test_retry_after_is_read_as_seconds_or_a_date(header, seconds):
    assert rules.retry_after_seconds(header, now=NOW) == seconds
