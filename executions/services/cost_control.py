"""Debounce and throttle at firing time: the database side of triggers/cost_control.py.

**Debounce.** A key's open window is one execution row holding its ``debounce_key`` (unique
per trigger, ``execution_debounce_window``). A delivery first tries to join it, in one
``UPDATE … RETURNING`` that takes the row's lock (``debounce_join``):

- trailing: while the run is still pending, not handed to the broker, not a retry and not due
  (``available_at`` in the future), the delivery's input and request replace the row's, its
  ``delivery_count`` grows by one and its ``available_at`` moves to now + period, at the
  latest ``debounce_until`` (first delivery + max wait). The dispatcher waits on
  ``available_at`` as it does for a retry's backoff, and Beat's periodic dispatch pass hands
  the run to the broker once it is due;
- leading: while ``debounce_until`` (first delivery + period) is ahead, the delivery is
  dropped and counted on the run that took the first one, whatever its state.

A window that can take no more is closed (its ``debounce_key`` cleared, ``debounce_close``)
by the first delivery that finds it so, which then opens a new one with its own execution.
Two deliveries that open one at once meet at the unique index: the second's INSERT fails
once the first commits, and it joins the first's window (firing.py retries the join).

**Throttle.** The key's executions (``throttle_key``, index ``execution_throttle``) are its
slots: a new one may start (``available_at``) no earlier than the ``limit``-th latest one's
start plus the period, and not before the latest one (first in, first out). So at most
``limit`` start within any period, and the excess waits in the database, none refused. The
slot is computed under a lock per (trigger, key) — a transaction-level advisory lock on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers — so two deliveries
never take the same slot.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from triggers import cost_control

# The execution types a debounce or throttle applies to: events, not cron slots or people.
EVENT_TYPES = frozenset(
    {
        ExecutionType.WEBHOOK,
        ExecutionType.SLACK,
        ExecutionType.POLLING,
        ExecutionType.FILE_SYSTEM,
    }
)


@dataclass(frozen=True)
class Joined:
    """A delivery taken by an open window: the run that carries (trailing) or stands for
    (leading) it, and how many deliveries that run now counts."""

    execution_id: uuid.UUID
    status: str
    delivery_count: int
    leading: bool


def payload_of(execution_type: str, input_data) -> object:
    """What a key expression reads: a webhook's or app event's ``payload`` (the body, after
    its transform), a poll's ``item``, a watched folder's whole input (event, path, size…)."""
    if not isinstance(input_data, dict):
        return input_data
    if execution_type in (ExecutionType.WEBHOOK, ExecutionType.SLACK):
        return input_data.get("payload")
    if execution_type == ExecutionType.POLLING:
        return input_data.get("item")
    return input_data


# -- debounce -------------------------------------------------------------------------------


def _greatest() -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"  # SQLite: scalar MAX


def _least() -> str:
    return "LEAST" if connection.vendor == "postgresql" else "MIN"


# SQL that holds while a window's row can take a delivery, by mode (leading?); its one
# parameter is now. Trailing: the run is pending, not handed to the broker, not a retry, not
# due yet. Leading: the period since the first delivery is not over.
_OPEN_SQL = {
    False: (
        f"status = '{ExecutionStatus.PENDING.value}' AND retry_count = 0 "
        "AND dispatched_at IS NULL AND available_at > %s"
    ),
    True: "debounce_until > %s",
}


def debounce_join(
    *,
    trigger_id: int,
    key: str,
    debounce: cost_control.Debounce,
    input_data,
    request_payload,
    now: datetime,
) -> Joined | None:
    """Join ``key``'s open window of the trigger, or None when it has none that can take
    this delivery (module docstring)."""
    adapt = connection.ops.adapt_datetimefield_value
    table = Execution._meta.db_table
    open_sql = _OPEN_SQL[debounce.leading]
    if debounce.leading:
        sql = (
            f"UPDATE {table} SET delivery_count = delivery_count + 1, updated_at = %s "
            f"WHERE trigger_id = %s AND debounce_key = %s AND {open_sql} "
            "RETURNING execution_id, status, delivery_count"
        )
        params = [adapt(now), trigger_id, key, adapt(now)]
    else:
        fields = Execution._meta
        json_value = fields.get_field("input_data").get_db_prep_save
        payload_value = fields.get_field("request_payload").get_db_prep_save
        # Later by one quiet period, never earlier than it is (a throttle's slot), never
        # later than the window's end.
        sql = (
            f"UPDATE {table} SET input_data = %s, request_payload = %s, "
            "delivery_count = delivery_count + 1, updated_at = %s, "
            f"available_at = {_least()}(debounce_until, {_greatest()}(available_at, %s)) "
            f"WHERE trigger_id = %s AND debounce_key = %s AND {open_sql} "
            "RETURNING execution_id, status, delivery_count"
        )
        params = [
            json_value(input_data, connection),
            payload_value(request_payload, connection),
            adapt(now),
            adapt(now + debounce.period),
            trigger_id,
            key,
            adapt(now),
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    execution_id = Execution._meta.get_field("execution_id").to_python(row[0])
    return Joined(execution_id, row[1], row[2], debounce.leading)


def debounce_close(
    *, trigger_id: int, key: str, debounce: cost_control.Debounce, now: datetime
) -> None:
    """Close ``key``'s window of the trigger if it can take no more deliveries (it runs as it
    is); one that can (opened meanwhile by another delivery) is left open."""
    open_sql = _OPEN_SQL[debounce.leading]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Execution._meta.db_table} SET debounce_key = NULL "
            f"WHERE trigger_id = %s AND debounce_key = %s AND NOT ({open_sql})",
            [trigger_id, key, connection.ops.adapt_datetimefield_value(now)],
        )


def debounce_fields(debounce: cost_control.Debounce, key: str, now: datetime) -> dict:
    """The new window's columns on the execution that opens it."""
    if debounce.leading:
        return {"debounce_key": key, "debounce_until": now + debounce.period}
    return {
        "debounce_key": key,
        "debounce_until": now + debounce.max_wait,
        "available_at": now + debounce.period,
    }


# -- throttle -------------------------------------------------------------------------------


def throttle_slot(
    *, trigger_id: int, key: str, throttle: cost_control.Throttle, not_before: datetime
) -> datetime:
    """When the key's next execution may start: its slot (module docstring). Call inside the
    transaction that stores it: the lock taken here is held until its commit."""
    if connection.vendor == "postgresql":  # SQLite: writers are serialized already
        digest = hashlib.sha256(f"throttle:{trigger_id}:{key}".encode()).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )
    latest = list(
        Execution.objects.filter(trigger_id=trigger_id, throttle_key=key)
        .order_by("-available_at")
        .values_list("available_at", flat=True)[: throttle.limit]
    )
    slot = not_before
    if latest:
        slot = max(slot, latest[0])  # first in, first out
    if len(latest) == throttle.limit:
        slot = max(slot, latest[-1] + throttle.period)
    return slot
