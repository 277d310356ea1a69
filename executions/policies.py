"""The firing rules: each decided by one function here, over facts passed in (no database).

Every delivery kind — a cron slot (executions/scheduler.py), "run now"
(executions/services/firing.py), a webhook or Slack event (webhooks/), and the watched
folders and polls to come — gathers the facts of the moment (``FiringFacts``) and asks
``firing_refusal``, which applies the rules in this order, the first refusal winning:

1. ``status_refusal``: only an active trigger fires;
2. ``single_execution_refusal``: a single-execution trigger fires once;
3. ``one_time_refusal``: a one-time schedule (``config.date``) fires one slot;
4. ``overlap_refusal``: a cron slot follows the overlap policy while an earlier execution
   is unfinished (slots only: an event carries its own data and is never dropped for
   another; "run now" is a person asking, not a slot);
5. ``limit_refusal``: the rolling per-hour and per-day limits.

After a run: ``freezes_after_failure`` with ``failure_threshold`` (a streak of failed
executions freezes the trigger) and ``completes_trigger`` (a single-execution trigger, or a
one-time schedule, that has run is completed). The cron side: ``schedule_config`` (a
schedule's ``date``, ``expirationDate`` and jitter, read once per firing),
``plan_due_slots`` (misfires; no slot outside the window, and a window that has closed
ends the schedule: ``schedule_end_reason``) and ``retry_delay_seconds`` (backoff). A
backfill (executions/services/backfill.py) asks ``backfill_unfit_reason`` and, per slot,
``backfill_slot_refusal``; its slots run in the order ``start_waits_for_running`` says.

Changing a rule means changing its function here; ``HISTORY_RULE_FIELDS`` says which
trigger settings make a firing need the trigger's history (and its row lock), and the
webhook fast path's SQL condition is built from it (``history_free_sql``).
"""

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from executions.choices import ExecutionType
from triggers import config_keys, schedule
from triggers.choices import Delivery, MisfirePolicy, OverlapPolicy, TriggerStatus

# Catching up never creates more than this many executions for one trigger in one pass.
MAX_CATCH_UP_SLOTS = 1000

# The trigger settings whose rules read the trigger's history, and their "off" value. A
# trigger with every one off needs neither its history nor its row lock to fire an event.
HISTORY_RULE_FIELDS = {
    "max_executions_per_hour": None,
    "max_executions_per_day": None,
    "is_single_execution": False,
}
# The one status in which a trigger fires (the status rule; SQL that selects firing triggers,
# such as the scheduler's claim, filters on it).
FIRING_STATUS = TriggerStatus.ACTIVE
# Every trigger field the firing rules read (a caller loading a trigger partly loads these).
RULE_FIELDS = ("status", "overlap_policy", *HISTORY_RULE_FIELDS)


@dataclass(frozen=True)
class FiringFacts:
    """What the rules need to know of a trigger's history at the moment of a firing.

    Counted executions are those that count toward limits and single execution: every
    execution but test runs and firings that were refused or cancelled.
    """

    has_fired: bool = False  # a counted execution exists
    pending: int = 0  # unfinished executions, for the overlap policy
    running: int = 0
    hour_count: int = 0  # counted executions created in the last hour
    oldest_in_hour: datetime | None = None
    day_count: int = 0  # … and in the last day
    oldest_in_day: datetime | None = None
    # A one-time schedule's slot firing: has a slot of its date fired? None: not one.
    one_time_fired: bool | None = None

    def after_firing(self, now: datetime) -> "FiringFacts":
        """The facts once one more firing, at ``now``, is stored (a pass that fires several
        slots of one trigger decides each against the ones before it)."""
        return replace(
            self,
            has_fired=True,
            one_time_fired=None if self.one_time_fired is None else True,
            pending=self.pending + 1,
            hour_count=self.hour_count + 1,
            oldest_in_hour=self.oldest_in_hour or now,
            day_count=self.day_count + 1,
            oldest_in_day=self.oldest_in_day or now,
        )


@dataclass(frozen=True)
class Refusal:
    """Why a firing may not happen; ``rule`` names the rule, ``reason`` is for people."""

    rule: str
    reason: str
    retry_after_seconds: int | None = None  # when the refusal ends by itself (limits)


def needs_history(trigger) -> bool:
    """Do this trigger's event firings need its history (counts, under its row lock)?"""
    return any(getattr(trigger, name) != off for name, off in HISTORY_RULE_FIELDS.items())


def history_free_sql(alias: str, column) -> str:
    """SQL over a trigger row (table alias ``alias``) that holds when no setting in
    HISTORY_RULE_FIELDS is on; ``column(name)`` gives a field's column name."""
    checks = []
    for name, off in HISTORY_RULE_FIELDS.items():
        if off is None:
            checks.append(f"{alias}.{column(name)} IS NULL")
        elif off is False:
            checks.append(f"NOT {alias}.{column(name)}")
        else:  # pragma: no cover - a new kind of "off" value must be spelled out here
            raise ValueError(f"No SQL for {name} off = {off!r}")
    return " AND ".join(checks)


def firing_refusal(
    trigger, *, execution_type: str, facts: FiringFacts, now: datetime
) -> Refusal | None:
    """The first rule (module docstring) that refuses this firing, or None: it may fire.

    ``trigger`` needs its status, overlap policy and the HISTORY_RULE_FIELDS settings.
    """
    return (
        status_refusal(trigger.status)
        or single_execution_refusal(trigger.is_single_execution, facts)
        or one_time_refusal(facts)
        or overlap_refusal(trigger.overlap_policy, execution_type, facts)
        or limit_refusal(
            trigger.max_executions_per_hour, trigger.max_executions_per_day, facts, now
        )
    )


def status_refusal(status: str) -> Refusal | None:
    """Only an active trigger fires (inactive, stale, completed and failed ones do not)."""
    if status == FIRING_STATUS:
        return None
    return Refusal("status", f"The trigger is {TriggerStatus(status).label.lower()}.")


def single_execution_refusal(is_single_execution: bool, facts: FiringFacts) -> Refusal | None:
    """A single-execution trigger fires once: a counted execution uses it up."""
    if is_single_execution and facts.has_fired:
        return Refusal("single_execution", "This single-execution trigger has already fired.")
    return None


def one_time_refusal(facts: FiringFacts) -> Refusal | None:
    """A one-time schedule (``config.date``) fires one slot of its date. Only its slots are
    asked (``facts.one_time_fired`` is gathered for them): a "run now" is a person asking for
    an extra run, and does not use the date up."""
    if facts.one_time_fired:
        return Refusal("one_time", "This one-time schedule has already run.")
    return None


def overlap_refusal(overlap_policy: str, execution_type: str, facts: FiringFacts) -> Refusal | None:
    """A cron slot while an earlier execution is unfinished: ``allow`` runs it alongside,
    ``buffer_one`` lets one wait behind a running one, ``skip`` refuses it."""
    if execution_type != ExecutionType.SCHEDULED or overlap_policy == OverlapPolicy.ALLOW:
        return None
    if overlap_policy == OverlapPolicy.BUFFER_ONE:
        busy = facts.pending > 0  # one may wait behind a running one, no more
    else:
        busy = facts.pending > 0 or facts.running > 0
    if not busy:
        return None
    state = "running" if facts.running else "pending"
    return Refusal(
        "overlap", f"An earlier execution is still {state} (overlap policy {overlap_policy})."
    )


def start_waits_for_running(
    overlap_policy: str, execution_type: str, is_backfill: bool = False
) -> bool:
    """The other half of ``buffer_one``: the slot buffered behind a running execution starts
    only once no execution of its trigger runs (the finish of that one enqueues it again).

    A backfill's slots (``is_backfill``) wait the same way under ``skip`` too: a person
    asked for every one of them, so none is dropped, and they run one after another, oldest
    slot first — never two at once, which is what ``skip`` and ``buffer_one`` promise.
    Under ``allow`` they run alongside (docs/scheduling.md, "Backfill")."""
    if execution_type != ExecutionType.SCHEDULED:
        return False
    if is_backfill:
        return overlap_policy != OverlapPolicy.ALLOW
    return overlap_policy == OverlapPolicy.BUFFER_ONE


def limit_refusal(
    max_per_hour: int | None, max_per_day: int | None, facts: FiringFacts, now: datetime
) -> Refusal | None:
    """One more firing must fit the rolling per-hour and per-day limits.

    The windows roll (the last 60 minutes, the last 24 hours), so a burst at 10:59 is
    not followed by another at 11:00. The retry-after is when the oldest counted
    execution leaves the window that is full.
    """
    if max_per_hour is not None and facts.hour_count >= max_per_hour:
        frees_at = (facts.oldest_in_hour or now) + timedelta(hours=1)
        return Refusal(
            "limit_per_hour",
            f"Over the limit of {max_per_hour} executions per hour.",
            _seconds_until(frees_at, now),
        )
    if max_per_day is not None and facts.day_count >= max_per_day:
        frees_at = (facts.oldest_in_day or now) + timedelta(days=1)
        return Refusal(
            "limit_per_day",
            f"Over the limit of {max_per_day} executions per day.",
            _seconds_until(frees_at, now),
        )
    return None


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


# -- after a run -------------------------------------------------------------------------------


def failure_threshold(trigger, *, default: int) -> int:
    """How many consecutive failed executions freeze ``trigger``: its own
    ``config.max_failure_count`` when it has one, else ``default``
    (``TRIGGER_FAILURE_THRESHOLD``)."""
    return config_keys.failure_threshold(trigger.config) or default


def freezes_after_failure(*, consecutive_failures: int, threshold: int) -> bool:
    """An active trigger whose last ``threshold`` counted executions all failed is frozen
    (``failed``) until it is enabled again."""
    return consecutive_failures >= threshold


def freeze_reason(*, threshold: int, last_error: str, of: str = "executions") -> str:
    """Why a trigger was frozen; ``of``: what failed (``executions``, or a polling trigger's
    ``polls``, whose streak polling/services/state.py keeps and asks the same rule about)."""
    return f"Frozen after {threshold} consecutive failed {of}; the last one: {last_error}"


def completes_trigger(
    *, is_single_execution: bool, counted: bool, one_time_run: bool = False
) -> bool:
    """A single-execution trigger is completed once its counted run has finished; so is a
    one-time schedule once the run of its date's slot has (``one_time_run``)."""
    return counted and (is_single_execution or one_time_run)


# -- a schedule's dates ------------------------------------------------------------------------


def schedule_config(trigger) -> config_keys.ScheduleConfig:
    """``trigger``'s schedule keys, read once per firing and passed to the rules below: a
    schedule trigger's ``config.date`` and ``config.expirationDate`` in its time zone (none on
    other kinds, whose slots have no window), and its jitter offset."""
    if trigger.delivery != Delivery.SCHEDULE:
        return config_keys.ScheduleConfig(
            jitter=config_keys.jitter_offset(trigger.config, trigger.uuid)
        )
    return config_keys.schedule_config(trigger.config, trigger.timezone, trigger.uuid)


def is_one_time_run(
    trigger, execution_type: str, schedule_keys: config_keys.ScheduleConfig | None = None
) -> bool:
    """Does this execution use up a one-time schedule (a slot of its date)? ``schedule_keys``:
    the trigger's schedule_config when the caller read it already."""
    if execution_type != ExecutionType.SCHEDULED:
        return False
    return (schedule_keys or schedule_config(trigger)).one_time_date is not None


def schedule_end_reason(trigger, schedule_keys: config_keys.ScheduleConfig) -> str:
    """Why a schedule whose window closed is stale (plan_due_slots said ``ended``)."""
    if schedule_keys.one_time_date is not None:
        return (
            f"Its one-time date {schedule_keys.one_time_date} ({trigger.timezone}) passed "
            "without a run."
        )
    until = schedule_keys.expiration_date
    return f"Expired: its expirationDate {until} ({trigger.timezone}) has passed."


# -- backfills: a schedule's past slots fired on purpose ----------------------------------------


def backfill_unfit_reason(trigger, schedule_keys: config_keys.ScheduleConfig) -> str | None:
    """Why ``trigger`` has no slots a backfill could fire, or None when it has. Only a cron
    schedule has slots; a single-execution trigger and a one-time schedule (``config.date``)
    run once by definition, and a backfill would be a second run ("run now" is that)."""
    if trigger.delivery != Delivery.SCHEDULE:
        kind = trigger.delivery.label.lower() if trigger.delivery else "an unknown type of"
        return f"Only schedule (cron) triggers have slots to backfill; this is a {kind} trigger."
    if trigger.is_single_execution:
        return "A single-execution trigger runs once: it has no slots to backfill."
    if schedule_keys.one_time_date is not None:
        return "A one-time schedule (config.date) has a single slot: it has none to backfill."
    return None


def backfill_slot_refusal(trigger, *, facts: FiringFacts, now: datetime) -> Refusal | None:
    """The firing rules for one slot of a backfill, in their order: status, then the limits.

    The overlap policy refuses no slot of a backfill: it says how they run
    (``start_waits_for_running``). Single execution and one-time dates have no slots to
    backfill (``backfill_unfit_reason``)."""
    return status_refusal(trigger.status) or limit_refusal(
        trigger.max_executions_per_hour, trigger.max_executions_per_day, facts, now
    )


# -- cron slots and retries ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotPlan:
    """The due slots of one trigger, split into those to run and those to skip."""

    run: list[datetime]
    skipped: list[datetime] = field(default_factory=list)
    next_fire_at: datetime | None = None
    # The schedule's window has closed: no slot is left, the trigger fires no more.
    ended: bool = False


def plan_due_slots(
    *,
    cron_expression: str,
    timezone_name: str,
    next_fire_at: datetime,
    now: datetime,
    misfire_policy: str,
    misfire_window_seconds: int,
    grace_seconds: int,
    ends_at: datetime | None = None,
    missed_until: datetime | None = None,
) -> SlotPlan:
    """Which of the slots from ``next_fire_at`` up to ``now`` run, and the next slot after.

    A slot no older than ``grace_seconds`` is on time and always runs. Older ones were
    missed (the service was down) and follow the trigger's misfire policy:
    ``skip`` runs none; ``run_once`` runs only the newest missed slot; ``run_all`` runs
    every missed slot within ``misfire_window_seconds`` of now. The skipped slots are
    returned so the caller can record them.

    ``ends_at`` closes the schedule's window (schedule_config): no slot at or after it is
    due. With no slot left before it, the next wake-up is ``ends_at`` itself, and once that
    has come the plan is ``ended`` — the trigger then becomes stale, at the end of its
    expiration day rather than after its last slot, which may be days earlier. A window
    that has closed catches nothing up: its missed slots are skipped, whatever the policy
    (an on-time slot, fired within the grace, still runs).

    ``missed_until``: the end of a pause the trigger has just come out of. Its slots up to
    then were missed while it was paused, however recent: none of them is on time, so the
    misfire policy decides about each (a slot a second before the pause ended is not run
    under ``skip``).
    """

    def inside(moment: datetime) -> bool:
        return ends_at is None or moment < ends_at

    due: list[datetime] = []
    slot = next_fire_at
    while slot <= now and inside(slot) and len(due) < MAX_CATCH_UP_SLOTS:
        due.append(slot)
        slot = schedule.next_fire_after(cron_expression, timezone_name, slot)
    while slot <= now and inside(slot):  # more than MAX_CATCH_UP_SLOTS behind: jump ahead
        slot = schedule.next_fire_after(cron_expression, timezone_name, now)
    ended = False
    if not inside(slot):
        ended = ends_at <= now
        slot = None if ended else ends_at
    on_time_after = now - timedelta(seconds=grace_seconds)
    if missed_until is not None:
        on_time_after = max(on_time_after, missed_until + timedelta(microseconds=1))
    on_time = [s for s in due if s >= on_time_after]
    missed = [s for s in due if s < on_time_after]
    if not missed:
        return SlotPlan(run=on_time, next_fire_at=slot, ended=ended)
    if misfire_policy == MisfirePolicy.SKIP:
        run_missed: list[datetime] = []
    elif misfire_policy == MisfirePolicy.RUN_ALL:
        window_start = now - timedelta(seconds=misfire_window_seconds)
        run_missed = [s for s in missed if s >= window_start]
    else:  # RUN_ONCE: one catch-up run stands for them all
        run_missed = [] if on_time else missed[-1:]
    if ended:
        run_missed = []
    skipped = [s for s in missed if s not in run_missed]
    return SlotPlan(run=run_missed + on_time, skipped=skipped, next_fire_at=slot, ended=ended)


def retry_delay_seconds(
    retry_count: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": uniform in [c/2, c], c = min(cap, base * 2**n).

    The jitter spreads retries of executions that failed together (an agent runtime
    outage); the lower half-bound keeps a retry from coming back at once.
    """
    ceiling = min(cap, base * (2**retry_count))
    return (rng or random).uniform(ceiling / 2, ceiling)


# -- which runs wait on an agent ------------------------------------------------------------

# Runners that answer at once, without waiting on an agent: their executions may share a
# run message (a batch) and run on the run queue's workers; every other runner's (http,
# openai) is an agent run, on the agent queue's thread-pool worker (docs/runners.md).
INSTANT_RUNNERS = frozenset({"dry_run"})


def is_instant(runner: str | None, default_runner: str) -> bool:
    """Does a trigger whose agent chose ``runner`` ("" or None: ``default_runner``, the
    EXECUTION_RUNNER setting) answer at once?"""
    return (runner or default_runner) in INSTANT_RUNNERS
