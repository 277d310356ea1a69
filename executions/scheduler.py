"""The cron scheduler: claim due triggers, store their executions, advance, enqueue.

One pass claims active triggers whose ``next_fire_at`` has come, in batches, with
``SELECT … FOR UPDATE SKIP LOCKED``: two schedulers running at once split the due
triggers between them instead of both firing them. Inside the same transaction each
claimed trigger gets its executions (each slot decided by the firing rules of
executions/policies.py, as every firing is) and its next slot; after commit, a dispatch
pass hands them to the workers (executions/dispatch.py).
The unique constraint on (trigger, scheduled_for) is the last line of defence: a slot
that somehow was fired already is not inserted again (``ignore_conflicts``).

Firings that are not run — missed slots skipped by the misfire policy, slots refused by
the overlap policy or a limit — are recorded as cancelled executions with the reason, so
a trigger's history shows every slot. Many skipped slots of one trigger in one pass are
recorded as one execution whose input lists them (a week offline must not write 10,000
rows per trigger).

A schedule with a ``date`` (one-time) or an ``expirationDate`` has its slots in a window
(policies.schedule_config, read once per firing): a one-time schedule is disarmed once its
slot fires (its run's end completes it), and a schedule whose window has closed with nothing
left to fire becomes stale, with the reason (policies.schedule_end_reason).

A trigger with ``config.jitter_seconds`` runs each slot a fixed offset late
(config_keys.jitter_offset): its ``next_fire_at`` is the slot plus the offset, so it is
claimed then; the pass plans on the slots' own times (``scheduled_for`` stays the slot) and
the execution's input records ``jitter_seconds``, the offset it ran late by.

A paused trigger whose ``paused_until`` has come is resumed first, on the same tick
(``_resume_batch``): claimed as due triggers are (two schedulers split them, and the resume
itself only takes a trigger still paused until then, so each pause ends once), made active
by triggers.services, and — a schedule — fired in the same transaction over the slots it
missed since the pause began, each slot up to ``paused_until`` missed (never on time), so
its misfire policy decides about them (docs/scheduling.md, "Pause with a note, until a
time").
"""

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from api.timestamps import iso_z
from executions import dispatch, metrics, policies
from executions.choices import ExecutionStatus, ExecutionType
from executions.inserts import insert_executions
from executions.services.firing import firing_facts, unfinished_counts
from triggers import config_keys
from triggers import services as trigger_services
from triggers.choices import OverlapPolicy, TriggerStatus
from triggers.models import Trigger

logger = logging.getLogger(__name__)

# Fields a pass reads; loading only these keeps a 1,000-trigger claim cheap.
_CLAIM_FIELDS = (
    "id",
    "uuid",
    "tenant_id",
    "provider_id",
    "provider_trigger_id",
    "status",
    "config",
    "cron_expression",
    "timezone",
    "next_fire_at",
    "misfire_policy",
    "misfire_window_seconds",
    "overlap_policy",
    "max_executions_per_hour",
    "max_executions_per_day",
    "is_single_execution",
    "max_retries",
)
_SKIPPED_SLOTS_LISTED = 100


@dataclass
class FiringReport:
    triggers: int = 0
    fired: int = 0
    not_run: int = 0
    execution_ids: list = field(default_factory=list)
    # The longest wait of this pass from a claimed trigger's slot to its stored executions.
    slot_lag_seconds: float | None = None
    # Paused triggers whose pause ended, made active again by this pass.
    resumed: int = 0


def fire_due_triggers(
    *, now: datetime | None = None, batch_size: int | None = None
) -> FiringReport:
    """Resume the paused triggers whose pause ends by ``now`` (default: the current time),
    then fire every trigger due then, batch by batch."""
    batch_size = batch_size or settings.SCHEDULER_BATCH_SIZE
    report = FiringReport()
    while _resume_batch(now or timezone.now(), batch_size, report) == batch_size:
        pass
    while True:
        claimed = _fire_batch(now or timezone.now(), batch_size, report)
        if claimed < batch_size:
            return report


def seconds_until_next_due(*, now: datetime | None = None) -> float | None:
    """How long until the earliest active trigger's slot or the earliest end of a pause;
    None when there is neither."""
    earliest_slot = Trigger.objects.filter(
        status=policies.FIRING_STATUS, next_fire_at__isnull=False
    ).aggregate(earliest=Min("next_fire_at"))["earliest"]
    earliest_resume = _pauses_ending().aggregate(earliest=Min("paused_until"))["earliest"]
    moments = [m for m in (earliest_slot, earliest_resume) if m is not None]
    if not moments:
        return None
    return max(0.0, (min(moments) - (now or timezone.now())).total_seconds())


def _pauses_ending():
    """Paused triggers that resume by themselves (the partial index trigger_pause_ends)."""
    return Trigger.objects.filter(status=TriggerStatus.INACTIVE, paused_until__isnull=False)


def _resume_batch(now: datetime, batch_size: int, report: FiringReport) -> int:
    """Resume up to ``batch_size`` triggers whose pause has ended; fire the slots a schedule
    missed while paused under its misfire policy, in the same transaction."""
    with transaction.atomic():
        paused = list(
            _pauses_ending()
            .select_for_update(skip_locked=True)
            .filter(paused_until__lte=now)
            .order_by("paused_until")
            .values_list("pk", "paused_until")[:batch_size]
        )
        due: list[Trigger] = []
        paused_until: dict[int, datetime] = {}
        for trigger_id, until in paused:
            resumed = trigger_services.trigger_resume(trigger_id=trigger_id, now=now)
            if resumed is None:
                continue
            report.resumed += 1
            if resumed.next_fire_at is not None and resumed.next_fire_at <= now:
                due.append(resumed)
                paused_until[trigger_id] = until
        if due:
            _fire_claimed(due, now, report, paused_until=paused_until)
        return len(paused)


def _fire_batch(now: datetime, batch_size: int, report: FiringReport) -> int:
    with transaction.atomic():
        triggers = list(
            Trigger.objects.select_for_update(skip_locked=True)
            .filter(status=policies.FIRING_STATUS, next_fire_at__lte=now)
            .order_by("next_fire_at")
            .only(*_CLAIM_FIELDS)[:batch_size]
        )
        if not triggers:
            return 0
        _fire_claimed(triggers, now, report)
        return len(triggers)


def _fire_claimed(
    triggers: list[Trigger],
    now: datetime,
    report: FiringReport,
    *,
    paused_until: dict[int, datetime] | None = None,
) -> None:
    """Store the due slots of ``triggers`` (locked by the caller's transaction) and arm their
    next ones. ``paused_until``: of triggers just resumed, when their pause ended (their
    slots up to then were missed while paused)."""
    paused_until = paused_until or {}
    unfinished = unfinished_counts(
        [t.pk for t in triggers if t.overlap_policy != OverlapPolicy.ALLOW]
    )
    plans: dict[tuple, policies.SlotPlan] = {}
    executions: list[dict] = []
    next_slots: dict[datetime | None, list[int]] = defaultdict(list)
    ended: list[tuple[Trigger, config_keys.ScheduleConfig]] = []
    to_run: list = []
    missed = 0
    for trigger in triggers:
        schedule_keys = policies.schedule_config(trigger)  # read once for this firing
        window, jitter = schedule_keys.window, schedule_keys.jitter
        # A jittered trigger's timeline runs its offset late: plan on the slots' own
        # times, then shift the next one back (config_keys.jitter_offset).
        offset = jitter or timedelta(0)
        pause_end = paused_until.get(trigger.pk)
        key = (
            trigger.cron_expression,
            trigger.timezone,
            trigger.next_fire_at,
            offset,
            trigger.misfire_policy,
            trigger.misfire_window_seconds,
            window.ends_at,
            pause_end,
        )
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = policies.plan_due_slots(
                cron_expression=trigger.cron_expression,
                timezone_name=trigger.timezone,
                next_fire_at=trigger.next_fire_at - offset,
                now=now - offset,
                misfire_policy=trigger.misfire_policy,
                misfire_window_seconds=trigger.misfire_window_seconds,
                grace_seconds=settings.SCHEDULER_MISFIRE_GRACE_SECONDS,
                ends_at=window.ends_at,
                missed_until=pause_end and pause_end - offset,
            )
        fired, records, facts = _executions_for(
            trigger,
            plan,
            unfinished.get(trigger.pk, (0, 0)),
            now,
            schedule_keys,
            paused=pause_end is not None,
        )
        executions.extend(records)
        to_run.extend(e["execution_id"] for e in fired)
        report.fired += len(fired)
        report.not_run += len(records) - len(fired)
        missed += len(plan.skipped)
        # Single execution and a one-time date: once fired, the schedule is disarmed.
        done = (trigger.is_single_execution and bool(fired)) or bool(facts.one_time_fired)
        if not done and plan.ended:
            ended.append((trigger, schedule_keys))
        else:
            upcoming = plan.next_fire_at and plan.next_fire_at + offset
            next_slots[None if done else upcoming].append(trigger.pk)
    stored_at = timezone.now()
    _stamp(executions, stored_at)
    insert_executions(executions, ignore_conflicts=True)
    transaction.on_commit(partial(_count, executions, missed, stored_at))
    # A resumed trigger's first slot waited for its pause, not for the scheduler.
    waited = [t.next_fire_at for t in triggers if t.pk not in paused_until]
    if waited:
        lag = (timezone.now() - min(waited)).total_seconds()
        report.slot_lag_seconds = max(lag, report.slot_lag_seconds or lag)
    # Triggers of one schedule share their next slot: one UPDATE per distinct slot.
    for next_fire_at, ids in next_slots.items():
        trigger_services.triggers_set_next_fire_at(trigger_ids=ids, next_fire_at=next_fire_at)
    for trigger, schedule_keys in ended:  # its window closed: it can fire no more
        trigger_services.triggers_mark_stale(
            triggers=Trigger.objects.filter(pk=trigger.pk),
            reason=policies.schedule_end_reason(trigger, schedule_keys),
        )
    dispatch.enqueue_on_commit(to_run, batched=True)
    report.triggers += len(triggers)
    report.execution_ids.extend(to_run)


def _executions_for(
    trigger: Trigger,
    plan: policies.SlotPlan,
    unfinished: tuple[int, int],
    now: datetime,
    schedule_keys: config_keys.ScheduleConfig,
    *,
    paused: bool = False,
) -> tuple[list[dict], list[dict], policies.FiringFacts]:
    """(the executions to run, every execution to store, the facts after them) for one
    trigger's due slots, as rows for insert_executions.

    Each slot is decided by the firing rules against the facts before it, including the
    slots of this pass that fire ahead of it (not in the database yet)."""
    records: list[dict] = []
    fired: list[dict] = []
    if plan.skipped:
        records.append(_skipped_record(trigger, plan.skipped, paused=paused))
    facts = firing_facts(
        trigger,
        now=now,
        execution_type=ExecutionType.SCHEDULED,
        unfinished=unfinished,
        schedule_keys=schedule_keys,
    )
    for slot in plan.run:
        refusal = policies.firing_refusal(
            trigger, execution_type=ExecutionType.SCHEDULED, facts=facts, now=now
        )
        refused = f"Not run: {refusal.reason}" if refusal else ""
        execution = _scheduled(trigger, slot, refused, schedule_keys.jitter)
        records.append(execution)
        if refusal is None:
            fired.append(execution)
            facts = facts.after_firing(now)
    return fired, records, facts


def _scheduled(trigger: Trigger, slot: datetime, refusal: str, jitter: timedelta | None) -> dict:
    """A slot's execution; a jittered one's input says by how much it ran late on purpose."""
    input_data = {"scheduled_for": slot.isoformat()}
    if jitter is not None:
        input_data["jitter_seconds"] = int(jitter.total_seconds())
    return {
        "execution_id": uuid.uuid4(),
        "tenant_id": trigger.tenant_id,
        "trigger_id": trigger.pk,
        "execution_type": ExecutionType.SCHEDULED,
        "status": ExecutionStatus.CANCELLED if refusal else ExecutionStatus.PENDING,
        "scheduled_for": slot,
        "input_data": input_data,
        "error_message": refusal,
        "max_retries": trigger.max_retries,
    }


def _skipped_record(trigger: Trigger, skipped: list[datetime], *, paused: bool) -> dict:
    """One cancelled execution standing for the missed slots the misfire policy skipped
    (``paused``: missed while the trigger was paused)."""
    first, last = skipped[0], skipped[-1]
    missed_while = "paused" if paused else "the scheduler was not running"
    return {
        "execution_id": uuid.uuid4(),
        "tenant_id": trigger.tenant_id,
        "trigger_id": trigger.pk,
        "execution_type": ExecutionType.SCHEDULED,
        "status": ExecutionStatus.CANCELLED,
        "scheduled_for": last,
        "input_data": {
            "skipped_slots": [s.isoformat() for s in skipped[:_SKIPPED_SLOTS_LISTED]],
            "skipped_count": len(skipped),
        },
        "error_message": (
            f"Missed while {missed_while}: {len(skipped)} slot(s) from "
            f"{iso_z(first)} to {iso_z(last)} skipped "
            f"(misfire policy {trigger.misfire_policy})."
        ),
        "max_retries": trigger.max_retries,
    }


def _count(rows: list[dict], missed: int, stored_at: datetime) -> None:
    """A committed batch in the metrics (executions/metrics.py): its executions by status,
    its slots by outcome, the delay of each fired one."""
    fired = [row for row in rows if row["status"] == ExecutionStatus.PENDING]
    metrics.executions_reached(ExecutionType.SCHEDULED, ExecutionStatus.PENDING, len(fired))
    metrics.executions_reached(
        ExecutionType.SCHEDULED, ExecutionStatus.CANCELLED, len(rows) - len(fired)
    )
    # A trigger's missed slots are one row (_skipped_record); the other cancelled ones, refused.
    refused = sum(
        1
        for row in rows
        if row["status"] == ExecutionStatus.CANCELLED and "skipped_count" not in row["input_data"]
    )
    metrics.slots_decided(
        fired=len(fired),
        skipped=refused,
        missed=missed,
        fire_delays=[(stored_at - row["scheduled_for"]).total_seconds() for row in fired],
    )


def _stamp(rows: list[dict], moment: datetime) -> None:
    """The batch's rows are created at one moment; the ones not run end at that moment
    too, never before they begin."""
    for row in rows:
        row["created_at"] = moment
        if row["status"] == ExecutionStatus.CANCELLED:
            row["completed_at"] = moment
