"""Firing: a trigger becomes a stored execution when the firing rules allow it.

The rules are executions/policies.py's; this module gathers the facts they need (the
trigger's history), asks ``policies.firing_refusal``, stores the execution and enqueues it
once committed. The cron scheduler (executions/scheduler.py) does the same per slot, in
batches.
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from executions import dispatch, metrics, policies, throttles
from executions.choices import ExecutionStatus, ExecutionType
from executions.inserts import PreparedInsert, insert_execution, prepared_insert
from executions.models import Execution
from executions.services import cost_control
from triggers import config_keys, event_rules
from triggers import cost_control as cost_control_config
from triggers import services as trigger_services
from triggers.choices import OverlapPolicy
from triggers.models import Trigger

# The firings a concurrency key applies to: events, not cron slots or a person's run now.
EVENT_EXECUTION_TYPES = frozenset(
    {ExecutionType.WEBHOOK, ExecutionType.SLACK, ExecutionType.POLLING, ExecutionType.FILE_SYSTEM}
)


class FiringRefused(Exception):
    """The trigger may not fire now; ``refusal`` says which rule refused and why.

    Carries what api/errors.py answers it with on every surface (``refusal_error``): 429
    with Retry-After when the rule says when to try again (a limit, a throttle), else 409."""

    def __init__(self, refusal: policies.Refusal):
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.reason = refusal.reason
        self.retry_after_seconds = refusal.retry_after_seconds
        self.http_status = 429 if refusal.retry_after_seconds else 409
        self.code = "rate_limited" if refusal.retry_after_seconds else "trigger_not_active"


@dataclass(frozen=True)
class Firing:
    execution: Execution
    created: bool  # False: an earlier delivery with the same idempotency key made it
    # Taken by an open debounce window (executions/services/cost_control.py): ``execution``
    # is the run that carries it (trailing) or stands for it (leading), created False.
    debounced: cost_control.Joined | None = None


# -- the facts the rules need -------------------------------------------------------------------


def counted_executions(trigger_id: int) -> QuerySet[Execution]:
    """The executions that count toward limits and single execution: not test runs, not
    firings that were refused (recorded cancelled) or cancelled."""
    return Execution.objects.filter(trigger_id=trigger_id, is_test=False).exclude(
        status=ExecutionStatus.CANCELLED
    )


def unfinished_counts(trigger_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(pending, running) per trigger, in one query over the unfinished-executions index."""
    if not trigger_ids:
        return {}
    counts: dict[int, tuple[int, int]] = {}
    rows = (
        Execution.objects.filter(
            trigger_id__in=trigger_ids,
            status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING],
        )
        .values("trigger_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        pending, running = counts.get(row["trigger_id"], (0, 0))
        if row["status"] == ExecutionStatus.PENDING:
            pending = row["n"]
        else:
            running = row["n"]
        counts[row["trigger_id"]] = (pending, running)
    return counts


def firing_facts(
    trigger: Trigger,
    *,
    now: datetime,
    execution_type: str,
    unfinished: tuple[int, int] | None = None,
    schedule_keys: config_keys.ScheduleConfig | None = None,
) -> policies.FiringFacts:
    """The facts of ``trigger``'s history its settings make the rules read (nothing for a
    trigger without limits, single execution, a one-time date or a slot's overlap policy).
    ``unfinished``: (pending, running) when the caller counted them already (the scheduler,
    in bulk); ``schedule_keys``: the trigger's policies.schedule_config, likewise."""
    facts: dict = {}
    if trigger.is_single_execution:
        facts["has_fired"] = counted_executions(trigger.pk).exists()
    if execution_type == ExecutionType.SCHEDULED and schedule_keys is None:
        schedule_keys = policies.schedule_config(trigger)  # read once, for every rule below
    if policies.is_one_time_run(trigger, execution_type, schedule_keys):
        window = schedule_keys.window
        facts["one_time_fired"] = (
            counted_executions(trigger.pk)
            .filter(
                execution_type=ExecutionType.SCHEDULED,
                scheduled_for__gte=window.starts_at,
                scheduled_for__lt=window.ends_at,
            )
            .exists()
        )
    if execution_type == ExecutionType.SCHEDULED and trigger.overlap_policy != OverlapPolicy.ALLOW:
        if unfinished is None:
            unfinished = unfinished_counts([trigger.pk]).get(trigger.pk, (0, 0))
        facts["pending"], facts["running"] = unfinished
    if trigger.max_executions_per_hour or trigger.max_executions_per_day:
        recent = counted_executions(trigger.pk)
        for window, prefix in ((timedelta(hours=1), "hour"), (timedelta(days=1), "day")):
            found = recent.filter(created_at__gt=now - window).aggregate(
                count=Count("id"), oldest=Min("created_at")
            )
            facts[f"{prefix}_count"], facts[f"oldest_in_{prefix}"] = found["count"], found["oldest"]
    return policies.FiringFacts(**facts)


# -- firing -------------------------------------------------------------------------------------


def execution_fire(
    *,
    trigger: Trigger,
    execution_type: str,
    input_data=None,
    request_payload=None,
    idempotency_key: str | None = None,
    conversation_id: str = "",
    replay_of: Execution | None = None,
    config=None,
) -> Firing:
    """One firing of a trigger by an event (webhook, Slack event, poll, file) or by a person
    ("run now", ``execution_run_now``).

    Stored (committed), then enqueued. A repeated ``idempotency_key`` returns the first
    execution and creates nothing, also when the repeats arrive at once: the unique
    constraint decides, so the common case costs one INSERT and no lookup. Raises
    FiringRefused when a firing rule refuses (policies.firing_refusal). A trigger whose
    rules read its history fires under its row lock, so concurrent firings cannot both take
    the last slot of a limit; any other trigger needs no lock and no transaction: its firing
    is a single autocommitted INSERT (the webhook hot path).

    An event firing (webhook, Slack, poll, file) of a trigger with ``config.debounce`` or
    ``config.throttle`` goes through ``_fire_controlled``: it may join an open debounce
    window instead of creating an execution (``Firing.debounced``), and waits for its
    throttle slot. ``config``: the trigger's config when the caller read the trigger without
    it (the webhook path reads it as stored text), else ``trigger.config`` is read.
    """
    fields = _firing_fields(
        trigger, execution_type, input_data, request_payload, idempotency_key, config
    )
    fields["conversation_id"] = conversation_id
    if replay_of is not None:
        fields["replay_of_id"] = replay_of.pk
    now = timezone.now()
    control = None
    if execution_type in cost_control.EVENT_TYPES and replay_of is None:
        control = cost_control_config.cost_control(trigger.config if config is None else config)
    if control is not None:
        firing = _fire_controlled(trigger, execution_type, fields, control, now)
    elif not policies.needs_history(trigger):
        _refuse_if_refused(trigger, execution_type, policies.FiringFacts(), now)
        firing = _insert_once(fields)
    else:
        with transaction.atomic():
            trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
            if idempotency_key is not None:
                earlier = _by_idempotency_key(trigger.pk, idempotency_key)
                if earlier is not None:
                    return Firing(earlier, created=False)
            facts = firing_facts(trigger, now=now, execution_type=execution_type)
            _refuse_if_refused(trigger, execution_type, facts, now)
            firing = _insert_once(fields)
            if firing.created and trigger.is_single_execution:
                trigger_services.triggers_set_next_fire_at(
                    trigger_ids=[trigger.pk], next_fire_at=None
                )
    if firing.created:
        dispatch.enqueue_on_commit([firing.execution.execution_id], batched=True, may_wait=True)
        metrics.executions_reached(execution_type, ExecutionStatus.PENDING)
    return firing


# A delivery that would open a debounce window another opened at the same moment joins that
# one instead; each try after the first follows another's commit, so a few always suffice.
_DEBOUNCE_TRIES = 5


def _fire_controlled(trigger, execution_type, fields, control, now) -> Firing:
    """``execution_fire`` for a trigger with a debounce or a throttle, in one transaction:
    join the key's open window (no new execution, no firing rule asked but the status: the
    run it joins was allowed), else the firing rules, then a new execution (a window's
    first, its throttle slot); executions/services/cost_control.py has the why."""
    debounce, throttle = control.debounce, control.throttle
    payload = cost_control.payload_of(execution_type, fields["input_data"])
    debounce_key = throttle_key = None
    if debounce is not None:
        debounce_key = cost_control_config.key_digest(debounce.key, payload)
    if throttle is not None:
        throttle_key = cost_control_config.key_digest(throttle.key, payload)
    for _ in range(_DEBOUNCE_TRIES):
        with transaction.atomic():
            locked = policies.needs_history(trigger)
            if locked:
                trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
            refusal = policies.status_refusal(trigger.status)
            if refusal is not None:
                raise FiringRefused(refusal)
            if debounce is not None:
                joined = cost_control.debounce_join(
                    trigger_id=trigger.pk, key=debounce_key, debounce=debounce,
                    input_data=fields["input_data"],
                    request_payload=fields["request_payload"], now=now,
                )  # fmt: skip
                if joined is not None:
                    execution = Execution(
                        execution_id=joined.execution_id, status=joined.status,
                        delivery_count=joined.delivery_count, trigger_id=trigger.pk,
                        tenant_id=trigger.tenant_id,
                    )  # fmt: skip
                    return Firing(execution, created=False, debounced=joined)
                cost_control.debounce_close(
                    trigger_id=trigger.pk, key=debounce_key, debounce=debounce, now=now
                )
            idempotency_key = fields["idempotency_key"]
            if locked and idempotency_key is not None:
                earlier = _by_idempotency_key(trigger.pk, idempotency_key)
                if earlier is not None:
                    return Firing(earlier, created=False)
            facts = (
                firing_facts(trigger, now=now, execution_type=execution_type)
                if locked
                else policies.FiringFacts()
            )
            _refuse_if_refused(trigger, execution_type, facts, now)
            row = dict(fields)
            if debounce is not None:
                row.update(cost_control.debounce_fields(debounce, debounce_key, now))
            if throttle is not None:
                slot = cost_control.throttle_slot(
                    trigger_id=trigger.pk, key=throttle_key, throttle=throttle,
                    not_before=row.get("available_at", now),
                )  # fmt: skip
                row["throttle_key"], row["available_at"] = throttle_key, slot
                if debounce is not None and not debounce.leading:
                    # The window may not close before the slot it waits for.
                    row["debounce_until"] = max(row["debounce_until"], slot)
            try:
                firing = _insert_once(row)
            except IntegrityError:
                if debounce is None:
                    raise
                continue  # another delivery opened the window meanwhile: join it
            if firing.created and locked and trigger.is_single_execution:
                trigger_services.triggers_set_next_fire_at(
                    trigger_ids=[trigger.pk], next_fire_at=None
                )
            return firing
    raise RuntimeError("A debounce window kept changing while a delivery tried to join it.")


def execution_fire_if(
    *,
    trigger: Trigger,
    condition: tuple[str, list],
    execution_type: str,
    input_data=None,
    request_payload=None,
    idempotency_key: str | None = None,
    config=None,
) -> uuid.UUID | None:
    """``execution_fire`` in one statement, for a trigger the caller read earlier (``config``
    as in ``execution_fire``: the webhook path reads the trigger without it); the new
    pending execution's id.

    The execution is stored only if ``condition`` (SQL over the trigger's row, with its
    parameters) holds when the INSERT runs; the caller's condition must say "still active,
    still without rules that read its history (policies.history_free_sql), still as I read
    it". None when it does not hold, or when the idempotency key is taken: nothing was
    stored, and the caller must read the trigger again and use ``execution_fire`` (which
    answers with the earlier execution).
    """
    if policies.needs_history(trigger):
        raise ValueError("A trigger whose rules read its history fires through execution_fire.")
    fields = _firing_fields(
        trigger, execution_type, input_data, request_payload, idempotency_key, config
    )
    sql, params = condition
    constant = tuple((name, value) for name, value in fields.items() if name not in _PER_FIRING)
    prepared = _prepared_firing(constant, sql)
    database = transaction.get_connection()
    # Inside a transaction, a savepoint: the conflict must not poison the outer one.
    in_transaction = database.in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            execution_id = prepared.insert([fields[name] for name in _PER_FIRING], params)
    except IntegrityError:
        return None
    if execution_id is not None:
        dispatch.enqueue_on_commit([execution_id], batched=True, may_wait=True, database=database)
        metrics.executions_reached(execution_type, ExecutionStatus.PENDING)
    return execution_id


# What differs between two firings of one trigger (``_firing_fields``); the rest is the
# trigger's, prepared once per trigger (executions/inserts.py PreparedInsert).
_PER_FIRING = ("concurrency_key", "input_data", "request_payload", "idempotency_key")


@lru_cache(maxsize=4096)
def _prepared_firing(constant: tuple[tuple[str, object], ...], condition: str) -> PreparedInsert:
    """The INSERT of one trigger's firings (``constant``: the rest of ``_firing_fields``)."""
    return prepared_insert(dict(constant), _PER_FIRING, condition)


def execution_run_now(
    *,
    trigger: Trigger,
    requested_by: AbstractBaseUser | None = None,
    input_data=None,
    conversation_id: str = "",
) -> Firing:
    """A person's "run now": a manual firing under the same rules as every other (status,
    single execution, limits) and counted by them, and at most ``THROTTLE_RUN_NOW`` per
    trigger (executions/throttles.py). Raises FiringRefused (with ``retry_after_seconds``
    when throttled)."""
    wait = throttles.run_now_wait(trigger.pk)
    if wait is not None:
        raise FiringRefused(
            policies.Refusal(
                rule="run_now_throttle",
                reason=(
                    f"Run now is limited to {settings.THROTTLE_RUN_NOW} per trigger; "
                    f"try again in {wait} s."
                ),
                retry_after_seconds=wait,
            )
        )
    who = getattr(requested_by, "username", None)
    return execution_fire(
        trigger=trigger,
        execution_type=ExecutionType.MANUAL,
        input_data={"requested_by": who, **(input_data or {})},
        conversation_id=conversation_id,
    )


@transaction.atomic
def execution_create_test(
    *, trigger: Trigger, requested_by: AbstractBaseUser | None = None
) -> Execution:
    """A test run (the frontend API's "test"), enqueued once committed.

    Runs whatever the trigger's status, so a trigger can be tried before it is switched on,
    and outside the firing rules: a test is not counted toward limits or single execution.
    """
    execution = Execution.objects.create(
        tenant_id=trigger.tenant_id,
        trigger=trigger,
        execution_type=ExecutionType.MANUAL,
        is_test=True,
        input_data={"test": True, "requested_by": getattr(requested_by, "username", None)},
        max_retries=trigger.max_retries,
    )
    dispatch.enqueue_on_commit([execution.execution_id])
    metrics.executions_reached(ExecutionType.MANUAL, ExecutionStatus.PENDING)
    return execution


def _refuse_if_refused(trigger, execution_type, facts, now) -> None:
    refusal = policies.firing_refusal(trigger, execution_type=execution_type, facts=facts, now=now)
    if refusal is not None:
        raise FiringRefused(refusal)


def _firing_fields(
    trigger, execution_type, input_data, request_payload, idempotency_key, config
) -> dict:
    # The concurrency key, once, here: every event firing (webhook, app event, poll, file)
    # comes this way, and dispatch then reads the stored value, never the payload.
    rule = None
    if execution_type in EVENT_EXECUTION_TYPES:
        rule = event_rules.concurrency(trigger.config if config is None else config)
    document = event_rules.event_document(input_data, request_payload) if rule else None
    return {
        "concurrency_key": event_rules.key_value(rule, document),
        "tenant_id": trigger.tenant_id,
        "trigger_id": trigger.pk,
        "execution_type": execution_type,
        "input_data": input_data,
        "request_payload": request_payload,
        "idempotency_key": idempotency_key,
        "max_retries": trigger.max_retries,
    }


def _insert_once(fields: dict, *, only_if: tuple[str, list] | None = None) -> Firing | None:
    """INSERT the execution; on an idempotency-key conflict, the one that is there.

    None only when ``only_if`` did not hold. A conflict means it held: the SELECT that
    checks it runs before the row meets the unique constraint.
    """
    # Inside a transaction, a savepoint: the conflict must not poison the outer one.
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            execution = insert_execution(fields, only_if=only_if)
    except IntegrityError:
        key = fields["idempotency_key"]
        earlier = _by_idempotency_key(fields["trigger_id"], key) if key is not None else None
        if earlier is None:
            raise
        return Firing(earlier, created=False)
    return None if execution is None else Firing(execution, created=True)


def _by_idempotency_key(trigger_id: int, key: str) -> Execution | None:
    return Execution.objects.filter(trigger_id=trigger_id, idempotency_key=key).first()
