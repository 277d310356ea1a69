"""Every change to a trigger, in one place; views, admin actions and tasks call these."""

import copy
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Tenant
from triggers import config_keys, schedule
from triggers.choices import Delivery, TriggerStatus
from triggers.models import Trigger, is_trigger_column
from triggers.signals import trigger_saved, triggers_status_changed

# What a duplicate copies: the settings, not the identity, counters or state.
_SETTINGS_FIELDS = (
    "project",
    "agent",
    "description",
    "space_id",
    "provider_id",
    "provider_trigger_id",
    "config",
    "cron_expression",
    "timezone",
    "misfire_policy",
    "misfire_window_seconds",
    "overlap_policy",
    "listener_type",
    "agent_model",
    "system_message",
    "task_prompt",
    "custom_task",
    "max_executions_per_hour",
    "max_executions_per_day",
    "is_single_execution",
    "max_retries",
)
_SCHEDULE_FIELDS = frozenset({"cron_expression", "timezone"})


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


# A pause's note or until-time that a write does not name: the stored one is kept.
UNCHANGED: Any = _Unchanged()
# What a pause is made of, cleared together when the trigger is enabled or leaves inactive.
_NO_PAUSE = {"paused_at": None, "paused_by": None, "pause_note": "", "paused_until": None}


def _split_kind_settings(fields: dict) -> dict:
    """Take out of ``fields`` the names that are not Trigger fields: a delivery kind's
    settings (a webhook's path, method, signature …), which the app owning that kind's table
    validates (``trigger_validating``) and writes (``trigger_saved``); this app reads none."""
    return {name: fields.pop(name) for name in list(fields) if not is_trigger_column(name)}


TRIGGER_KEY_PREFIX = "trk_"


def trigger_key_set(*, trigger: Trigger) -> str:
    """Give the trigger a new key of its own (the provider API's deprecated key endpoints);
    only its SHA-256 is stored, so the key is returned to be shown once."""
    key = TRIGGER_KEY_PREFIX + secrets.token_urlsafe(32)
    trigger.key_digest = _key_digest(key)
    Trigger.objects.filter(pk=trigger.pk).update(key_digest=trigger.key_digest)
    return key


def trigger_key_matches(*, trigger: Trigger, key: str) -> bool:
    """Constant-time: is ``key`` the trigger's key?"""
    return bool(trigger.key_digest) and hmac.compare_digest(trigger.key_digest, _key_digest(key))


def _key_digest(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (as for API tokens).
    return hashlib.sha256(key.encode()).hexdigest()


def _arm(trigger: Trigger, *, now: datetime) -> None:
    """Set ``next_fire_at``: the next slot for an active schedule trigger, else nothing (a
    polling trigger's next poll is polling's: polling/receivers.py on ``trigger_saved``).

    ``next_fire_at`` is the slot plus the trigger's jitter offset (config_keys.jitter_offset;
    none without ``jitter_seconds``): when it is claimed. A schedule with a ``date`` or an
    ``expirationDate`` (config_keys) has its slots in a window. When none is left in it, a
    one-time schedule has nothing to wait for (its run is done or under way), and an
    expiring one waits for the window's end, when the scheduler makes it stale
    (executions.policies.plan_due_slots).
    """
    trigger.next_fire_at = None
    if trigger.status != TriggerStatus.ACTIVE or trigger.delivery != Delivery.SCHEDULE:
        return
    window = config_keys.schedule_window(trigger.config, trigger.timezone)
    slot = schedule.first_slot_in(trigger.cron_expression, trigger.timezone, window, after=now)
    if slot is None and config_keys.one_time_date(trigger.config) is None:
        slot = window.ends_at
    # With jitter_seconds, the whole timeline is shifted by the trigger's offset; the
    # scheduler shifts it back to find the slot (executions.scheduler).
    offset = config_keys.jitter_offset(trigger.config, trigger.uuid)
    if slot is not None and offset:
        slot += offset
    trigger.next_fire_at = slot


def _refuse_passed_dates(trigger: Trigger, *, now: datetime) -> None:
    """An active schedule is not given, or enabled with, a ``date`` whose run is over or an
    ``expirationDate`` that has passed (a 400 naming the key). Checked only when one of them,
    the cron, the time zone or the status changes: a trigger that ran on its date keeps it."""
    if trigger.status != TriggerStatus.ACTIVE or trigger.delivery != Delivery.SCHEDULE:
        return
    errors = config_keys.date_passed(
        trigger.config, trigger.cron_expression, trigger.timezone, now=now
    )
    if errors:
        raise ValidationError(errors)


def _reconcile_config(trigger: Trigger, changed: set[str], *, whole: bool) -> None:
    """Keep ``config`` and the typed columns its keys live in (catalog config_columns) equal.

    ``whole``: the config was given whole (the agent API's): its keys set their columns and a
    key it leaves out puts its column back to the default. Otherwise a changed config sets
    the columns of the keys it names, and a changed column (the frontend API's
    ``custom_cron_expression``) updates its key when the config names it.
    """
    config = dict(trigger.config or {})
    errors = {}
    for key, column in trigger.config_columns().items():
        # A column of a delivery kind's own table is a kind setting (None: its default).
        owned = is_trigger_column(column)
        if key in config and ("config" in changed and (whole or column not in changed)):
            value = config[key]
            if value is not None and not isinstance(value, str):
                errors[f"config.{key}"] = "Must be a string."
            elif owned:
                setattr(trigger, column, value)
            else:
                trigger.kind_settings[column] = value
        elif key in config and column in changed:
            config[key] = getattr(trigger, column) if owned else trigger.kind_settings[column]
        elif whole and owned:
            setattr(trigger, column, trigger._meta.get_field(column).get_default())
        elif whole:
            trigger.kind_settings[column] = None
    if errors:
        raise ValidationError(errors)
    trigger.config = config


def _schedule_state(trigger: Trigger) -> tuple:
    """What decides whether a schedule's dates are still to come (see _refuse_passed_dates)."""
    config = trigger.config if isinstance(trigger.config, dict) else {}
    dates = tuple(config.get(key) for key in config_keys.SCHEDULE_KEYS)
    return (trigger.status, trigger.cron_expression, trigger.timezone, dates)


def _claim_outside_account(trigger: Trigger) -> None:
    """A provider trigger that names an outside account (a Slack workspace …) binds it to its
    tenant, the first tenant to name it; naming another tenant's is a 409 naming the key.
    Inside the caller's transaction: a trigger that fails validation binds nothing."""
    named = trigger.outside_account()
    if named is None:
        return
    key, account_id = named
    try:
        account_services.outside_account_claim(
            tenant=trigger.tenant,
            provider_id=trigger.provider_id,
            account_id=account_id,
            bound_by=f"trigger {trigger.uuid}",
        )
    except account_services.OutsideAccountTaken:
        raise account_services.OutsideAccountTaken(
            {f"config.{key.config_key}": f"{key.label} '{account_id}' belongs to another tenant."}
        ) from None


def _validate_and_save(
    trigger: Trigger,
    *,
    rearm: bool,
    check_dates: bool,
    before: Trigger | None = None,
    copied_from: Trigger | None = None,
) -> Trigger:
    """Validate; check the schedule's dates against now when they, the cron, the time zone
    or the status changed; (re)arm when the schedule may have changed; save; tell the apps
    that keep a delivery kind's table (``trigger_saved``; ``before`` is None when created),
    which must take every kind setting given (``trigger.kind_settings``)."""
    _claim_outside_account(trigger)
    trigger.full_clean()
    now = timezone.now()
    if check_dates:
        _refuse_passed_dates(trigger, now=now)
    if rearm:
        _arm(trigger, now=now)
    trigger.config_hash = trigger.compute_config_hash()
    trigger.save()
    answers = trigger_saved.send(
        sender=Trigger,
        trigger=trigger,
        created=before is None,
        before=before,
        kind_settings=trigger.kind_settings,
        copied_from=copied_from,
    )
    taken = set().union(*(names or () for _receiver, names in answers))
    if unknown := set(trigger.kind_settings) - taken:
        # Inside the caller's transaction: nothing of this write is kept.
        raise TypeError(f"Not a setting of a {trigger.provider_trigger_id} trigger: {unknown}")
    return trigger


@transaction.atomic
def trigger_create(
    *,
    tenant: Tenant,
    provider_trigger_id: str,
    provider_id: str = "builtin",
    created_by: AbstractBaseUser | None = None,
    status: str = TriggerStatus.ACTIVE,
    config_is_whole: bool = False,
    copied_from: Trigger | None = None,
    pause_note: str | None = UNCHANGED,
    paused_until: datetime | None = UNCHANGED,
    **fields,
) -> Trigger:
    """Create a trigger; raises ValidationError (keyed by field) on bad settings.

    ``fields`` are Trigger fields and a delivery kind's settings (a webhook's
    ``webhook_path``, ``signature_verification`` …: _split_kind_settings).
    ``config_is_whole``: ``config`` is the trigger's whole configuration, typed columns
    included (``schedule``, ``path``; see _reconcile_config). ``copied_from``: the trigger
    a duplicate copies, for the apps that copy their kind's settings. ``pause_note`` and
    ``paused_until``: a trigger made inactive may be made paused, with them (_apply_pause).
    """
    kind_settings = _split_kind_settings(fields)
    trigger = Trigger(
        tenant=tenant,
        provider_id=provider_id,
        provider_trigger_id=provider_trigger_id,
        created_by=created_by,
        updated_by=created_by,
        status=status,
        **fields,
    )
    if not trigger.public_id:
        trigger.public_id = str(trigger.uuid)
    _apply_pause(
        trigger, note=pause_note, until=paused_until, requested=None, by=created_by,
        now=timezone.now(),
    )  # fmt: skip
    trigger.kind_settings = kind_settings
    _reconcile_config(trigger, set(fields) | set(kind_settings), whole=config_is_whole)
    return _validate_and_save(trigger, rearm=True, check_dates=True, copied_from=copied_from)


@transaction.atomic
def trigger_update(
    *,
    trigger: Trigger,
    updated_by: AbstractBaseUser | None = None,
    status: str | None = None,
    config_is_whole: bool = False,
    pause_note: str | None = UNCHANGED,
    paused_until: datetime | None = UNCHANGED,
    **fields,
) -> Trigger:
    """Change settings and, when ``status`` is given, move to that status (``config_is_whole``
    as for trigger_create).

    Only ``active`` and ``inactive`` can be asked for; the others are reached by events
    (an agent deleted, a single run done, repeated failures). Moving to ``inactive`` pauses
    the trigger (who and when are recorded), with ``pause_note`` and ``paused_until`` when
    given; given without a status, they change the pause of a paused trigger. Enabling
    clears the pause (docs/scheduling.md, "Pause with a note, until a time").
    """
    locked = Trigger.objects.select_for_update().get(pk=trigger.pk)
    moved_to = fields["tenant"].pk if "tenant" in fields else fields.get("tenant_id")
    if moved_to is not None and moved_to != locked.tenant_id:
        # Its executions, credentials and outside accounts are its tenant's: never moved.
        raise ValidationError({"tenant": "A trigger stays with its tenant; duplicate it instead."})
    previous = copy.copy(locked)
    before = _schedule_state(locked)
    locked.kind_settings = _split_kind_settings(fields)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.updated_by = updated_by or locked.updated_by
    _reconcile_config(locked, set(fields) | set(locked.kind_settings), whole=config_is_whole)
    rearm = bool(_SCHEDULE_FIELDS & fields.keys()) or "config" in fields
    now = timezone.now()
    if status is not None and status != locked.status:
        _apply_requested_status(locked, status, by=updated_by, now=now)
        rearm = True
    _apply_pause(
        locked, note=pause_note, until=paused_until, requested=status, by=updated_by, now=now
    )
    check_dates = _schedule_state(locked) != before
    return _validate_and_save(locked, rearm=rearm, check_dates=check_dates, before=previous)


def _apply_requested_status(
    trigger: Trigger, status: str, *, by: AbstractBaseUser | None, now: datetime
) -> None:
    if status == TriggerStatus.ACTIVE:
        if trigger.agent is not None and trigger.agent.is_pending_deletion:
            raise ValidationError({"status": "Its agent is pending deletion; it cannot run."})
        _unfreeze(trigger)
    elif status == TriggerStatus.INACTIVE:
        trigger.status = TriggerStatus.INACTIVE
        # A new pause: who and when; its note and until-time are the request's (_apply_pause).
        _set_fields(trigger, {**_NO_PAUSE, "paused_at": now, "paused_by": by})
    else:
        raise ValidationError({"status": f"Only active or inactive can be set, not {status!r}."})


def _unfreeze(trigger: Trigger) -> None:
    """Active again, by a person or at the end of its pause: a failed trigger's failure streak
    starts over (a polling trigger's poll failures too: polling/receivers.py), and the pause
    is over."""
    trigger.status = TriggerStatus.ACTIVE
    trigger.consecutive_failures = 0
    trigger.error_message = ""
    trigger.error_at = None
    _set_fields(trigger, _NO_PAUSE)


def _set_fields(trigger: Trigger, values: dict) -> None:
    for name, value in values.items():
        setattr(trigger, name, value)


def _apply_pause(
    trigger: Trigger,
    *,
    note: str | None,
    until: datetime | None,
    requested: str | None,
    by: AbstractBaseUser | None,
    now: datetime,
) -> None:
    """Give a paused trigger the pause ``note`` and ``until`` (each only when given, not
    UNCHANGED; None clears it). Refused, naming the field: on an enable (``requested``
    active: enabling ends the pause), on a trigger that is not paused (inactive), and an
    until-time that is not in the future (the one stored may be sent back as it is). The note's
    length is the model's (full_clean). A trigger paused before pauses were recorded, or made
    inactive, is paused from now by ``by``."""
    given = _pause_given(note, until)
    if not given:
        return
    if requested == TriggerStatus.ACTIVE:
        _refuse_pause_on_enable(note, until)
    if trigger.status != TriggerStatus.INACTIVE:
        raise ValidationError(
            {name: "Only a paused (inactive) trigger takes a pause note or an until-time; "
                   "disable it with them." for name in given}
        )  # fmt: skip
    changed_until = "paused_until" in given and until != trigger.paused_until
    if changed_until and until is not None and until <= now:
        raise ValidationError({"paused_until": "Must be in the future."})
    if "pause_note" in given:
        trigger.pause_note = note or ""
    if "paused_until" in given:
        trigger.paused_until = until
    if trigger.paused_at is None:
        trigger.paused_at, trigger.paused_by = now, by


def _pause_given(note: str | None, until: datetime | None) -> list[str]:
    """The names of a pause's parts a write gives (not UNCHANGED)."""
    return [name for name, value in (("pause_note", note), ("paused_until", until))
            if value is not UNCHANGED]  # fmt: skip


def _refuse_pause_on_enable(note: str | None, until: datetime | None) -> None:
    if given := _pause_given(note, until):
        raise ValidationError(
            {name: "Enabling ends the pause: it takes no pause note or until-time."
             for name in given}
        )  # fmt: skip


def trigger_enable(
    *,
    trigger: Trigger,
    updated_by: AbstractBaseUser | None = None,
    pause_note: str | None = UNCHANGED,
    paused_until: datetime | None = UNCHANGED,
) -> Trigger:
    """Active again (unfreezing a failed trigger, ending a pause). A surface passes on the
    pause note or end it was given with the enable, which refuses them, naming them."""
    return trigger_update(
        trigger=trigger,
        updated_by=updated_by,
        status=TriggerStatus.ACTIVE,
        pause_note=pause_note,
        paused_until=paused_until,
    )


def trigger_disable(
    *,
    trigger: Trigger,
    updated_by: AbstractBaseUser | None = None,
    pause_note: str | None = UNCHANGED,
    paused_until: datetime | None = UNCHANGED,
) -> Trigger:
    """Pause the trigger (inactive), by ``updated_by``, with ``pause_note`` and
    ``paused_until`` when given: then it resumes by itself (executions.scheduler). A paused
    trigger keeps its pause and gets the note and end given."""
    return trigger_update(
        trigger=trigger,
        updated_by=updated_by,
        status=TriggerStatus.INACTIVE,
        pause_note=pause_note,
        paused_until=paused_until,
    )


@transaction.atomic
def triggers_set_enabled(
    *,
    triggers: QuerySet[Trigger],
    enabled: bool,
    user: AbstractBaseUser | None = None,
    pause_note: str | None = UNCHANGED,
    paused_until: datetime | None = UNCHANGED,
) -> int:
    """Enable (unfreezing failed ones) or disable each of ``triggers`` (a pause, with
    ``pause_note`` and ``paused_until`` when given); how many there are. One refusal changes
    none of them."""
    if enabled:  # refused even when there is no trigger to enable
        _refuse_pause_on_enable(pause_note, paused_until)
    count = 0
    for trigger in triggers.select_for_update():
        trigger_update(
            trigger=trigger,
            updated_by=user,
            status=TriggerStatus.ACTIVE if enabled else TriggerStatus.INACTIVE,
            pause_note=pause_note,
            paused_until=paused_until,
        )
        count += 1
    return count


@transaction.atomic
def trigger_resume(*, trigger_id: int, now: datetime) -> Trigger | None:
    """A paused trigger whose ``paused_until`` has come is active again, as enabling makes
    it (the pause cleared, a failure streak over); None when it is no longer paused until
    then — another scheduler resumed it, or someone changed it — so each pause ends once.

    A schedule is armed at its first slot after the pause began (``paused_at``): the
    slots it missed are due, and the scheduler's misfire policy decides about them
    (executions.scheduler). The apps above see the write as any other (``trigger_saved``:
    a polling trigger polls at once). Dates that passed meanwhile are not refused here: the
    scheduler makes a schedule whose window closed stale."""
    trigger = (
        Trigger.objects.select_for_update()
        .filter(pk=trigger_id, status=TriggerStatus.INACTIVE, paused_until__lte=now)
        .first()
    )
    if trigger is None:
        return None
    before = copy.copy(trigger)
    armed_from = trigger.paused_at or trigger.paused_until
    _unfreeze(trigger)
    _arm(trigger, now=min(armed_from, now))
    trigger.save(
        update_fields=[
            "status", "consecutive_failures", "error_message", "error_at", *_NO_PAUSE,
            "next_fire_at", "updated_at",
        ]
    )  # fmt: skip
    trigger.kind_settings = {}
    trigger_saved.send(
        sender=Trigger, trigger=trigger, created=False, before=before, kind_settings={},
        copied_from=None,
    )  # fmt: skip
    return trigger


@transaction.atomic
def trigger_duplicate(*, trigger: Trigger, created_by: AbstractBaseUser | None = None) -> Trigger:
    """A new, inactive trigger with the same settings, fresh counters and (made by the app
    of its delivery kind, from ``copied_from``) a new webhook URL."""
    copied = {name: getattr(trigger, name) for name in _SETTINGS_FIELDS}
    copied["tenant"] = trigger.tenant
    copied["name"] = f"{trigger.name} (copy)"[: Trigger._meta.get_field("name").max_length]
    return trigger_create(
        created_by=created_by, status=TriggerStatus.INACTIVE, copied_from=trigger, **copied
    )


def trigger_delete(*, trigger: Trigger) -> None:
    """Delete the trigger and, with it, its execution history."""
    trigger.delete()


def triggers_delete(*, triggers: QuerySet[Trigger]) -> int:
    """Delete ``triggers`` and, with them, their execution history; how many triggers."""
    _, deleted = triggers.delete()
    return deleted.get(Trigger._meta.label, 0)


def triggers_mark_stale(*, triggers: QuerySet[Trigger], reason: str) -> int:
    """Triggers that can no longer fire as configured become stale, with the reason."""
    now = timezone.now()
    ids = list(
        triggers.exclude(status__in=[TriggerStatus.STALE, TriggerStatus.COMPLETED])
        .select_for_update()
        .values_list("pk", flat=True)
    )
    count = Trigger.objects.filter(pk__in=ids).update(
        status=TriggerStatus.STALE,
        next_fire_at=None,
        error_message=reason,
        error_at=now,
        updated_at=now,
        # A paused trigger that goes stale will not resume: the reason is its error_message.
        **_NO_PAUSE,
    )
    _status_changed(ids, TriggerStatus.STALE)
    return count


def _status_changed(trigger_ids: list[int], status: str) -> None:
    if trigger_ids:
        triggers_status_changed.send(sender=Trigger, trigger_ids=trigger_ids, status=status)


def trigger_count_filtered(*, trigger_id: int) -> None:
    """Count a delivery the trigger's filters turned away (config.body_contains,
    required_headers), atomically; it made no execution."""
    Trigger.objects.filter(pk=trigger_id).update(filtered_count=F("filtered_count") + 1)


def trigger_record_outcome(*, trigger_id: int, succeeded: bool, finished_at: datetime) -> int:
    """Count a finished execution, atomically (F-expressions: no lost updates); returns the
    trigger's failure streak after it (0 after a success), for the firing rules to judge."""
    outcome = "completed" if succeeded else "failed"
    changes = {
        "execution_count": F("execution_count") + 1,
        "last_executed_at": finished_at,
        "last_execution_status": outcome,
    }
    if succeeded:
        changes["consecutive_failures"] = 0
    else:
        changes["error_count"] = F("error_count") + 1
        changes["consecutive_failures"] = F("consecutive_failures") + 1
    counted = Trigger.objects.filter(pk=trigger_id)
    counted.update(**changes)
    if succeeded:  # a success ends any streak: nothing to read back
        return 0
    # The UPDATE holds the row lock until commit, so this reads this very count.
    return counted.values_list("consecutive_failures", flat=True).first() or 0


# Executions completed together, counted on their triggers as trigger_record_outcome counts
# one (the engine's batch of instant runs: executions/services/claims.py).
_COUNT_COMPLETED_SQL = f"""
UPDATE {Trigger._meta.db_table} t SET execution_count = t.execution_count + c.n,
    last_executed_at = c.last, last_execution_status = 'completed', consecutive_failures = 0
FROM (SELECT trigger_id, count(*) AS n, max(completed_at) AS last
      FROM unnest(%s::bigint[], %s::timestamptz[]) AS r (trigger_id, completed_at)
      GROUP BY trigger_id) c
WHERE t.id = c.trigger_id
"""


def triggers_count_completed(*, completed: list[tuple[int, datetime]]) -> None:
    """Count executions that completed — (trigger id, completed at) each — in one UPDATE
    (PostgreSQL: the engine stores results together only there), its triggers locked in id
    order first.

    The UPDATE alone locks its triggers in the order its join yields them, which differs
    between two sets of triggers: two workers storing batches at once on overlapping
    triggers could each hold one the other waits for, and PostgreSQL breaks such a deadlock
    only after deadlock_timeout (a second) by failing one. Locked in id order, they never
    cross. NO KEY: an execution's INSERT (its foreign key's KEY SHARE lock) is not held up."""
    if not completed:
        return
    trigger_ids = [trigger_id for trigger_id, _ in completed]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        locked = Trigger.objects.filter(pk__in=set(trigger_ids)).order_by("pk")
        list(locked.select_for_update(no_key=True).values_list("pk", flat=True))
        cursor.execute(_COUNT_COMPLETED_SQL, [trigger_ids, [at for _, at in completed]])


def triggers_set_next_fire_at(*, trigger_ids: list[int], next_fire_at: datetime | None) -> int:
    """Arm (or, with None, disarm) the given triggers' next slot, as the scheduler and the
    firing rules decide; how many were set."""
    return Trigger.objects.filter(pk__in=trigger_ids).update(next_fire_at=next_fire_at)


def trigger_freeze(*, trigger_id: int, reason: str, at: datetime) -> bool:
    """An active trigger is frozen as ``failed`` with ``reason``, until it is enabled again;
    False when it was not active."""
    frozen = Trigger.objects.filter(pk=trigger_id, status=TriggerStatus.ACTIVE).update(
        status=TriggerStatus.FAILED,
        next_fire_at=None,
        error_message=reason[:2000],
        error_at=at,
        updated_at=at,
    )
    _status_changed([trigger_id] if frozen else [], TriggerStatus.FAILED)
    return bool(frozen)


def trigger_complete(*, trigger_id: int, at: datetime) -> bool:
    """An active single-execution trigger that has run is ``completed``; False when it was
    not active."""
    completed = Trigger.objects.filter(pk=trigger_id, status=TriggerStatus.ACTIVE).update(
        status=TriggerStatus.COMPLETED, next_fire_at=None, updated_at=at
    )
    _status_changed([trigger_id] if completed else [], TriggerStatus.COMPLETED)
    return bool(completed)
