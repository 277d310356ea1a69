"""When a polling trigger polls (docs/polling.md), pure: decided here, asked by the claim
(polling/claims.py) and by a poll that failed or was rate-limited (polling/services/polls.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from triggers.polling_config import DEFAULT_INTERVAL_SECONDS

# A failing source is asked at most this rarely (unless the trigger's interval is longer).
MAX_BACKOFF_SECONDS = 3600
# A Retry-After is honoured up to this long: a source cannot stop a trigger for good.
MAX_RETRY_AFTER_SECONDS = 24 * 3600


def effective_interval(interval_seconds: int | None, *, minimum: int) -> int:
    """The seconds between two polls: the trigger's (``polling_frequency``), never fewer than
    ``minimum`` (``POLLING_MIN_INTERVAL_SECONDS``)."""
    return max(interval_seconds or DEFAULT_INTERVAL_SECONDS, minimum)


def next_poll_after_claim(*, due_at: datetime, now: datetime, interval: int) -> datetime:
    """The next poll of a trigger whose poll due at ``due_at`` was claimed at ``now``.

    One interval after it was due, so the cadence does not drift by the poller's lag; one
    interval from now when the poller is more than an interval behind (a Beat that was down
    does not make up for the polls it missed: the next poll sees everything anyway). Until
    the claimed poll has run, this is also its lease: a poll lost with its worker is done
    again then, from the same cursor.
    """
    step = timedelta(seconds=interval)
    return due_at + step if due_at + step > now else now + step


def delay_after_failure(*, interval: int, failures: int, retry_after: float | None) -> float:
    """Seconds from now to the poll after one that failed or was rate-limited.

    A ``Retry-After`` is the source's word: honoured (at least an interval, at most
    MAX_RETRY_AFTER_SECONDS). Without one, exponential backoff: ``interval · 2^n`` for the
    n-th failure in a row (n ≥ 1), capped at MAX_BACKOFF_SECONDS, never under the interval.
    """
    if retry_after is not None:
        return float(max(interval, min(retry_after, MAX_RETRY_AFTER_SECONDS)))
    backoff = min(MAX_BACKOFF_SECONDS, interval * 2 ** min(max(1, failures), 30))
    return float(max(interval, backoff))


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date); None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())
