"""Backfill: a cron trigger's slots between two past times, fired on purpose.

The frontend API's ``POST /api/triggers/{id}/backfill`` and the trigger admin's "Backfill…"
call ``trigger_backfill``; the admin's confirmation page asks ``backfill_slots`` first.
What is decided here (docs/scheduling.md, "Backfill"):

- **Which slots**: those of the trigger's cron expression, read in its time zone by the
  scheduler's own maths (triggers/schedule.py), from ``start`` to ``end``, both included,
  and inside the schedule's window (none at or after a ``config.expirationDate``'s end).
  ``end`` may not be in the future: a slot still to come is the scheduler's, and fired now
  it would run early and never at its time; ``start`` not before 1970-01-01. At most
  ``BACKFILL_MAX_SLOTS`` (1,000); a longer range is refused with how many slots it has and
  where the first 1,000 end.
- **Each slot exactly once**: the executions are stored with ``ON CONFLICT DO NOTHING`` on
  the unique (trigger, scheduled_for) constraint that makes every cron slot run once, under
  the trigger's row lock, so two backfills asked at once, a backfill asked twice and the
  scheduler firing the same slot all leave one execution per slot. A slot that has an
  execution already — run, running, or recorded as not run (a misfire's skip, an overlap) —
  is reported as existing and not fired again.
- **The firing rules**: the trigger must be active (a whole backfill is refused otherwise,
  409 like "run now"); single-execution triggers and one-time schedules have no slots to
  backfill; the per-hour and per-day limits count a backfill's slots as they count any
  firing, and a slot over a limit is not stored (reported as not run, with the reason), so a
  later backfill can still fire it.
- **Overlap**: under ``allow`` the slots queue at once and run alongside, as many at a time
  as the dispatcher gives the trigger (its ``max_concurrency``); under ``skip`` and
  ``buffer_one`` they run one after another, oldest first, never beside another run of the
  trigger (``policies.start_waits_for_running``). While they wait, the trigger's own slots
  meet an unfinished execution and follow its overlap policy as usual.
- **Marked**: each is a scheduled execution with ``is_backfill`` set and
  ``{"scheduled_for", "backfill": true, "requested_by"}`` as its input; the dispatcher serves
  them in the ``backfill`` class (``EXECUTION_DISPATCH_CLASSES``, last by default).
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.timestamps import iso_z
from executions import dispatch, metrics, policies
from executions.choices import ExecutionStatus, ExecutionType
from executions.inserts import insert_executions
from executions.models import Execution
from executions.services.firing import FiringRefused, firing_facts
from triggers import config_keys, schedule
from triggers.choices import OverlapPolicy
from triggers.models import Trigger

logger = logging.getLogger(__name__)

# A range over the cap is counted up to this many slots to say how long it is; beyond, it
# is "more than" this (counting a minute's schedule over years would take seconds).
COUNTED_SLOTS_LIMIT = 10_000

CREATED, EXISTING, NOT_RUN = "created", "existing", "not_run"
# No slot before the epoch, as no schedule date is before it (triggers/config_keys.py).
EARLIEST_START = datetime.combine(config_keys.EARLIEST_DATE, time(), tzinfo=UTC)


@dataclass(frozen=True)
class BackfillSlot:
    """One slot of a backfill: its execution, made now (``created``) or before
    (``existing``), or none (``not_run``: a limit refused it; the reason is the backfill's)."""

    scheduled_for: datetime
    outcome: str
    execution_id: uuid.UUID | None = None
    status: str | None = None


@dataclass(frozen=True)
class Backfill:
    trigger_id: int
    start: datetime
    end: datetime
    overlap_policy: str
    slots: list[BackfillSlot] = field(default_factory=list)
    not_run_reason: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for slot in self.slots if slot.outcome == outcome)

    @property
    def created(self) -> int:
        return self.count(CREATED)

    @property
    def existing(self) -> int:
        return self.count(EXISTING)

    @property
    def not_run(self) -> int:
        return self.count(NOT_RUN)

    @property
    def one_after_another(self) -> bool:
        """Do its executions run one at a time (``skip``, ``buffer_one``), or alongside?"""
        return self.overlap_policy != OverlapPolicy.ALLOW


def backfill_slots(
    *, trigger: Trigger, start: datetime, end: datetime, now: datetime | None = None
) -> list[datetime]:
    """The slots a backfill of ``trigger`` from ``start`` to ``end`` (both included) would
    fire, oldest first; ValidationError naming ``start``, ``end`` or the trigger's type
    (``provider_trigger_id``) when there is no such backfill (module docstring)."""
    now = now or timezone.now()
    errors = {}
    if start < EARLIEST_START:  # a schedule means no time before it (and year 1 overflows)
        errors["start"] = f"start must be {iso_z(EARLIEST_START)} or later."
    elif start >= end:
        errors["end"] = "end must be after start."
    elif end > now:
        errors["end"] = (
            f"end must not be in the future (now is {iso_z(now)}): a backfill fires slots "
            "that have passed; the ones to come are the scheduler's."
        )
    schedule_keys = policies.schedule_config(trigger)
    unfit = policies.backfill_unfit_reason(trigger, schedule_keys)
    if unfit:
        errors["provider_trigger_id"] = unfit
    if errors:
        raise ValidationError(errors)
    window_end = schedule_keys.window.ends_at
    if window_end is not None:  # no slot at or after the end of its expirationDate
        end = min(end, window_end - timedelta(microseconds=1))
    cap = settings.BACKFILL_MAX_SLOTS
    slots = _slots(trigger, start, end, cap + 1)
    if len(slots) > cap:
        counted = len(_slots(trigger, start, end, COUNTED_SLOTS_LIMIT + 1))
        how_many = (
            f"more than {COUNTED_SLOTS_LIMIT:,}"
            if counted > COUNTED_SLOTS_LIMIT
            else f"{counted:,}"
        )
        raise ValidationError(
            {
                "end": (
                    f"From {iso_z(start)} to {iso_z(end)} the schedule has {how_many} slots; "
                    f"a backfill fires at most {cap:,} (BACKFILL_MAX_SLOTS). The first {cap:,} "
                    f"end at {iso_z(slots[cap - 1])}: backfill up to then, then the rest."
                )
            }
        )
    return slots


@dataclass(frozen=True)
class BackfillPreview:
    """What a backfill would do, for a person to confirm (the admin's page)."""

    slots: list[datetime]
    existing: int  # of them, slots that have an execution already

    @property
    def to_fire(self) -> int:
        return len(self.slots) - self.existing


def backfill_preview(
    *, trigger: Trigger, start: datetime, end: datetime, now: datetime | None = None
) -> BackfillPreview:
    """``backfill_slots``, and how many of them have an execution already (nothing stored)."""
    slots = backfill_slots(trigger=trigger, start=start, end=end, now=now)
    return BackfillPreview(slots=slots, existing=len(_existing(trigger, slots)))


def trigger_backfill(
    *,
    trigger: Trigger,
    start: datetime,
    end: datetime,
    requested_by: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> Backfill:
    """Fire ``trigger``'s slots from ``start`` to ``end`` (both included) that have no
    execution yet, each exactly once, marked as a backfill, then dispatch them once committed.

    Raises ValidationError (``backfill_slots``) for a range or trigger with no backfill, and
    FiringRefused when the trigger is not active."""
    now = now or timezone.now()
    who = getattr(requested_by, "username", None)
    with transaction.atomic():
        # Under the trigger's row lock: two backfills of one trigger, or a backfill and the
        # scheduler's pass, take turns, and each sees the slots the other stored. The unique
        # constraint below is the last line of defence (SQLite has no row locks).
        locked = Trigger.objects.select_for_update().get(pk=trigger.pk)
        slots = backfill_slots(trigger=locked, start=start, end=end, now=now)
        refusal = policies.status_refusal(locked.status)
        if refusal is not None:
            raise FiringRefused(refusal)
        existing = _existing(locked, slots)
        facts = firing_facts(locked, now=now, execution_type=ExecutionType.SCHEDULED)
        outcomes: dict[datetime, BackfillSlot] = {}
        rows: list[dict] = []
        reason = ""
        for slot in slots:
            if slot in existing:
                outcomes[slot] = existing[slot]
                continue
            refused = policies.backfill_slot_refusal(locked, facts=facts, now=now)
            if refused is not None:
                outcomes[slot] = BackfillSlot(slot, NOT_RUN)
                reason = reason or refused.reason
                continue
            row = _row(locked, slot, who)
            rows.append(row)
            outcomes[slot] = BackfillSlot(
                slot, CREATED, row["execution_id"], ExecutionStatus.PENDING
            )
            facts = facts.after_firing(now)
        stored = insert_executions(rows, ignore_conflicts=True)
        if stored != len(rows):  # another writer stored some of these slots meanwhile
            outcomes.update(_lost_to_conflicts(locked, rows))
        created = [o.execution_id for o in outcomes.values() if o.outcome == CREATED]
        dispatch.enqueue_on_commit(created, batched=True)
        transaction.on_commit(
            partial(
                metrics.executions_reached,
                ExecutionType.SCHEDULED,
                ExecutionStatus.PENDING,
                len(created),
            )
        )
    backfill = Backfill(
        trigger_id=locked.pk,
        start=start,
        end=end,
        overlap_policy=locked.overlap_policy,
        slots=[outcomes[slot] for slot in slots],
        not_run_reason=reason,
    )
    logger.info(
        "Backfill of trigger #%d by %s, %s to %s: %d created, %d already there, %d not run",
        locked.pk, who or "-", iso_z(start), iso_z(end),
        backfill.created, backfill.existing, backfill.not_run,
    )  # fmt: skip
    return backfill


def _slots(trigger: Trigger, start: datetime, end: datetime, limit: int) -> list[datetime]:
    return schedule.slots_between(
        trigger.cron_expression, trigger.timezone, start, end, limit=limit
    )


def _existing(trigger: Trigger, slots: list[datetime]) -> dict[datetime, BackfillSlot]:
    """The slots among ``slots`` that have an execution (one range over the unique index)."""
    if not slots:
        return {}
    wanted = set(slots)
    found = Execution.objects.filter(
        trigger_id=trigger.pk, scheduled_for__gte=slots[0], scheduled_for__lte=slots[-1]
    ).values_list("scheduled_for", "execution_id", "status")
    return {
        slot: BackfillSlot(slot, EXISTING, execution_id, status)
        for slot, execution_id, status in found
        if slot in wanted
    }


def _lost_to_conflicts(trigger: Trigger, rows: list[dict]) -> dict[datetime, BackfillSlot]:
    """The rows the INSERT skipped (their slot was stored by another writer first), as the
    executions that hold those slots."""
    ours = [row["execution_id"] for row in rows]
    stored = set(
        Execution.objects.filter(execution_id__in=ours).values_list("execution_id", flat=True)
    )
    lost = [row["scheduled_for"] for row in rows if row["execution_id"] not in stored]
    return {slot: BackfillSlot(slot, EXISTING) for slot in lost} | _existing(trigger, lost)


def _row(trigger: Trigger, slot: datetime, who: str | None) -> dict:
    """A backfilled slot's execution, for insert_executions: a scheduled execution of that
    slot, marked, whose input says who asked for it."""
    return {
        "execution_id": uuid.uuid4(),
        "tenant_id": trigger.tenant_id,
        "trigger_id": trigger.pk,
        "execution_type": ExecutionType.SCHEDULED,
        "status": ExecutionStatus.PENDING,
        "scheduled_for": slot,
        "is_backfill": True,
        "input_data": {"scheduled_for": slot.isoformat(), "backfill": True, "requested_by": who},
        "max_retries": trigger.max_retries,
    }
