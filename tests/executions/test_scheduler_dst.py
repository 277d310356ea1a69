"""DST through the real scheduler: each case steps the clock from slot to slot and
records which slots fired (docs/scheduling.md, "Daylight saving time")."""

from datetime import UTC, datetime

import pytest

from executions.models import Execution
from executions.scheduler import fire_due_triggers
from triggers.models import Trigger
from triggers.schedule import next_fire_after


def _fired_slots(trigger: Trigger, start: datetime, firings: int) -> list[str]:
    """Arm the trigger after ``start`` and run the scheduler at each of its next slots."""
    Trigger.objects.filter(pk=trigger.pk).update(
        next_fire_at=next_fire_after(trigger.cron_expression, trigger.timezone, start),
        overlap_policy="allow",
    )
    for _ in range(firings):
        due = Trigger.objects.get(pk=trigger.pk).next_fire_at
        fire_due_triggers(now=due)
    slots = Execution.objects.filter(trigger=trigger).order_by("scheduled_for")
    return [slot.strftime("%m-%d %H:%M") for slot in slots.values_list("scheduled_for", flat=True)]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Spring forward: New York 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC);
# Berlin 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC).
# Fall back: New York 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC);
# Berlin 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC).
CASES = [
    pytest.param(
        "America/New_York", "30 2 * * *", utc(2026, 3, 7, 12), 3,
        ["03-08 07:00", "03-09 06:30", "03-10 06:30"],
        id="new-york-spring-forward: skipped 02:30 fires at 03:00 EDT, once",
    ),
    pytest.param(
        "America/New_York", "30 1 * * *", utc(2026, 10, 31, 12), 3,
        ["11-01 05:30", "11-02 06:30", "11-03 06:30"],
        id="new-york-fall-back: repeated 01:30 fires once (EDT), not twice",
    ),
    pytest.param(
        "America/New_York", "0 * * * *", utc(2026, 11, 1, 4, 30), 4,
        ["11-01 05:00", "11-01 06:00", "11-01 07:00", "11-01 08:00"],
        id="new-york-fall-back-hourly: every real hour fires, both 01:00s",
    ),
    pytest.param(
        "Europe/Berlin", "30 2 * * *", utc(2026, 3, 28, 12), 3,
        ["03-29 01:00", "03-30 00:30", "03-31 00:30"],
        id="berlin-spring-forward: skipped 02:30 fires at 03:00 CEST, once",
    ),
    pytest.param(
        "Europe/Berlin", "30 2 * * *", utc(2026, 10, 24, 12), 3,
        ["10-25 00:30", "10-26 01:30", "10-27 01:30"],
        id="berlin-fall-back: repeated 02:30 fires once (CEST), not twice",
    ),
    pytest.param(
        "Europe/Berlin", "0 9 * * *", utc(2026, 3, 28, 12), 2,
        ["03-29 07:00", "03-30 07:00"],
        id="berlin-spring-forward-0900: stays 09:00 local, moves in UTC",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "expression", "start", "firings", "expected"), CASES)
def test_dst_slots_fire_as_documented(
    acme, make_trigger, zone, expression, start, firings, expected
):
    trigger = make_trigger(acme, "cron", cron_expression=expression, timezone=zone)
    assert _fired_slots(trigger, start, firings) == expected
