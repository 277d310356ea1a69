"""The only writer of ``PollingState`` (docs/polling.md): what a poll records, the claim's
leases, and the state a polling trigger keeps through every write of its Trigger row.

A trigger's row is triggers.services'; what polling records is conditioned on it through the
join (``trigger__status``, ``trigger__config_hash``), so a poll of a trigger switched off or
reconfigured meanwhile writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from api.storable import storable_text
from polling import rules
from polling.choices import PollStatus
from polling.models import PollingState
from triggers import polling_config
from triggers.choices import Delivery, TriggerStatus
from triggers.models import Trigger

_RESULT_MAX_LENGTH = 2000


# -- kept with the trigger (polling/receivers.py) -------------------------------------------------


def polling_state_keep(*, trigger: Trigger, before: Trigger | None) -> None:
    """Keep a trigger's polling state with its row, just written (``before``: the row as it
    was, None when created). A polling trigger has a state from its creation: its interval
    from ``config.polling_frequency``; polled at once when it becomes active or its config
    changes while active (its first poll sets the cursor), never while it is not active;
    enabled, its failure streak starts over; polling another source, its cursor is
    forgotten. A trigger that is no longer a polling one loses its state."""
    if trigger.delivery != Delivery.POLLING:
        if before is not None:
            PollingState.objects.filter(trigger_id=trigger.pk).delete()
        return
    active = trigger.status == TriggerStatus.ACTIVE
    changes: dict = {"interval_seconds": polling_config.interval_seconds(trigger.config)}
    rearm = (
        before is None
        or before.delivery != Delivery.POLLING
        or before.status != trigger.status
        or before.config_hash != trigger.config_hash
    )
    if rearm or not active:
        changes["next_poll_at"] = timezone.now() if active else None
    if before is not None and active and before.status != TriggerStatus.ACTIVE:
        changes["failures"] = 0
    if before is not None and _poll_source(before) != _poll_source(trigger):
        changes["cursor"] = None  # another source: its items are not new to the old cursor
    if before is None:
        PollingState.objects.create(trigger=trigger, **changes)
    else:
        PollingState.objects.update_or_create(trigger=trigger, defaults=changes)


def polling_states_disarm(*, trigger_ids: Sequence[int]) -> int:
    """Triggers that left ``active`` have no next poll: out of the poll due index."""
    return PollingState.objects.filter(
        trigger_id__in=trigger_ids, next_poll_at__isnull=False
    ).update(next_poll_at=None)


def _poll_source(trigger: Trigger) -> tuple:
    """What a polling trigger polls (its type and the config keys naming the source)."""
    entry = trigger.trigger_type
    config = trigger.config if isinstance(trigger.config, dict) else {}
    keys = entry.cursor_keys if entry is not None else ()
    return (trigger.provider_id, trigger.provider_trigger_id, *(config.get(k) for k in keys))


# -- the claim (polling/claims.py) ----------------------------------------------------------------


def polling_states_claim_due(
    *, now: datetime, batch_size: int, minimum_interval: int
) -> list[tuple[int, datetime]]:
    """Up to ``batch_size`` polls due at ``now``, each (trigger id, when it was due), locked
    with SKIP LOCKED (another claim takes others) and each moved to its next poll, which is
    also the claimed poll's lease (rules.next_poll_after_claim). Inside the caller's
    transaction, which publishes the polls when it commits."""
    due = list(
        PollingState.objects.select_for_update(skip_locked=True)
        .filter(next_poll_at__lte=now)
        .order_by("next_poll_at")
        .values_list("trigger_id", "next_poll_at", "interval_seconds")[:batch_size]
    )
    leases = [
        PollingState(
            trigger_id=trigger_id,
            next_poll_at=rules.next_poll_after_claim(
                due_at=due_at,
                now=now,
                interval=rules.effective_interval(interval, minimum=minimum_interval),
            ),
        )
        for trigger_id, due_at, interval in due
    ]
    PollingState.objects.bulk_update(leases, ["next_poll_at"])
    return [(trigger_id, due_at) for trigger_id, due_at, _ in due]


# -- what a poll records (polling/services/polls.py) ----------------------------------------------


def polling_state_record_success(
    *, trigger_id: int, polled_at: datetime, result: str, config_hash: str, cursor
) -> bool:
    """Record a poll that succeeded: when it ran, what it found, the cursor it moved to; the
    failure streak starts over. Written only while the trigger is active with the config it
    was polled with (``config_hash``): False otherwise, and nothing is written. Inside the
    poll's transaction, it commits with the executions."""
    polled = PollingState.objects.filter(
        trigger_id=trigger_id,
        trigger__status=TriggerStatus.ACTIVE,
        trigger__config_hash=config_hash,
    )
    return bool(
        polled.update(
            last_polled_at=polled_at,
            last_status=PollStatus.OK,
            last_result=storable_text(result)[:_RESULT_MAX_LENGTH],
            failures=0,
            cursor=cursor,
        )
    )


def polling_states_record_unchanged(
    *, polled: Sequence[tuple[int, str]], polled_at: datetime, result: str
) -> int:
    """Record polls that found nothing new — (trigger id, the config hash it was polled
    with) each — in one UPDATE: when they ran, and the failure streaks start over. As
    polling_state_record_success, only for triggers still active with that config; how
    many."""
    condition = Q(pk__in=[])
    for trigger_id, config_hash in polled:
        condition |= Q(trigger_id=trigger_id, trigger__config_hash=config_hash)
    return PollingState.objects.filter(condition, trigger__status=TriggerStatus.ACTIVE).update(
        last_polled_at=polled_at,
        last_status=PollStatus.OK,
        last_result=storable_text(result)[:_RESULT_MAX_LENGTH],
        failures=0,
    )


@transaction.atomic
def polling_state_record_failure(
    *, trigger_id: int, polled_at: datetime, error: str, not_before: datetime, counted: bool
) -> int | None:
    """Record a poll that failed (``counted``: it adds to the failure streak) or that the
    source rate-limited (not counted): the error, and no next poll before ``not_before``.
    Returns the failure streak after it, for the firing rules to judge (None when the
    trigger is not active: nothing is written). The cursor is left as it was."""
    changes = {
        "last_polled_at": polled_at,
        "last_status": PollStatus.FAILED if counted else PollStatus.THROTTLED,
        "last_result": storable_text(error)[:_RESULT_MAX_LENGTH],
        "next_poll_at": Greatest(Coalesce("next_poll_at", Value(not_before)), Value(not_before)),
    }
    if counted:
        changes["failures"] = F("failures") + 1
    # The trigger's row lock: a disable meanwhile waits, and then takes the next poll away.
    active = Trigger.objects.select_for_update().filter(pk=trigger_id, status=TriggerStatus.ACTIVE)
    if not active.values_list("pk", flat=True):
        return None
    polled = PollingState.objects.filter(trigger_id=trigger_id)
    if not polled.update(**changes):
        return None
    # The UPDATE holds the row lock until commit, so this reads this very count.
    return polled.values_list("failures", flat=True).first() or 0
