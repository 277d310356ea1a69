"""Retention: finished executions older than their tenant's retention are deleted.

Beat runs ``executions_prune`` every EXECUTION_PRUNE_INTERVAL_SECONDS on the control queue
(executions/tasks.py; docs/scheduling.md, "Retention"). What it promises:

- Only **finished** executions go — completed, failed or cancelled, whose ``completed_at``
  is more than the retention ago. A pending or running one is never deleted, however old.
- Each tenant's own ``execution_retention_days`` (the admin's tenant page) replaces
  EXECUTION_RETENTION_DAYS for it; 0 keeps its history forever.
- In small batches (EXECUTION_PRUNE_BATCH_SIZE rows), each its own short transaction, so no
  lock is held long and a webhook's INSERT never waits behind a big DELETE; after each batch
  the pass rests as long as the batch took (``PRUNE_REST_RATIO``), leaving half the machine to
  ingest; a pass stops after ``PRUNE_PASS_SECONDS`` and the next one goes on, so the control
  queue's worker is back for the sweeper and the dispatch pass within seconds.
- The triggers' counters and last-run fields (``execution_count``, ``error_count``,
  ``last_executed_at``, ``last_execution_status`` …) are stored on the trigger when an
  execution finishes (lifecycle.py), never counted from the history: deleting history leaves
  them as they are.
- What the firing rules read from history stays: every execution of a single-execution
  trigger and of a one-time schedule (``config.date``) is kept, so deleting history never
  lets such a trigger fire again. The per-hour and per-day limits read one day at most, and
  a retention is at least a day.
- An execution that replays a deleted one keeps its own history; its ``replay_of`` is set to
  NULL in the same transaction (the model's ``on_delete=SET_NULL``).

No new index: each tenant's batches walk ``execution_tenant_newest`` (tenant, created_at, id),
which every INSERT already pays for, oldest first, from where the previous batch stopped (a
key, not an offset), so the pending and running ones passed over are read once per pass, not
once per batch. An execution finishes after it is created, so ``completed_at`` before the
cut-off implies ``created_at`` before it: the scan stops at the cut-off. One walk of the
whole table by time (``execution_newest``) would read, at every pass, every row a tenant with
a longer retention keeps (bench/retention.py measured it): per tenant, a scan reads only rows
its own retention may delete.
"""

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Tenant
from executions.choices import FINISHED_STATUSES
from executions.models import Execution
from executions.selectors import retention_days_given
from triggers.models import Trigger

logger = logging.getLogger(__name__)

# A pass's share of the control queue's worker (concurrency 1), which also runs the sweeper
# and the dispatch pass every 2 s: a backlog is worked off over several passes instead.
PRUNE_PASS_SECONDS = 5.0
# After each batch a pass rests as long as the batch took: it holds at most half a core (and
# half the disk's time), and ingest on the same machine keeps the rest (docs/benchmarks.md,
# "Retention under ingest").
PRUNE_REST_RATIO = 1.0


@dataclass(frozen=True)
class PruneReport:
    deleted: int
    batches: int
    done: bool  # False: the pass stopped at its time budget with more to delete


@dataclass
class _Lane:
    """One tenant's executions, walked oldest first from ``after``, the last key deleted."""

    tenant_id: str
    executions: QuerySet
    cutoff: datetime
    after: tuple[datetime, int] | None = None

    def next_batch(self, size: int) -> list[tuple[int, datetime]]:
        return list(self.candidates().values_list("pk", "created_at")[:size])

    def candidates(self) -> QuerySet[Execution]:
        """What may be deleted from ``after`` on, oldest first."""
        candidates = self.executions.filter(
            created_at__lt=self.cutoff,
            completed_at__lt=self.cutoff,
            status__in=sorted(FINISHED_STATUSES),
        )
        if self.after is not None:
            created, pk = self.after
            # created_at >= bounds the index scan; the OR is the rest of the key comparison.
            candidates = candidates.filter(
                Q(created_at__gt=created) | Q(pk__gt=pk), created_at__gte=created
            )
        return candidates.exclude(Exists(_rules_read_history(OuterRef("trigger_id")))).order_by(
            "created_at", "pk"
        )


def _rules_read_history(trigger_id) -> QuerySet[Trigger]:
    """The trigger, if the firing rules read its whole history: single execution, a one-time
    schedule (policies.single_execution_refusal, one_time_refusal)."""
    return Trigger.objects.filter(pk=trigger_id).filter(
        Q(is_single_execution=True) | Q(config__has_key="date")
    )


def prune_lanes(*, now: datetime) -> list[_Lane]:
    """One lane per tenant whose history is not kept forever, in a new random order each
    pass: a pass that ends at its time budget leaves other tenants for the next one."""
    lanes = []
    for pk, own in Tenant.objects.values_list("pk", "execution_retention_days"):
        days = retention_days_given(own)
        if days:
            lanes.append(
                _Lane(pk, Execution.objects.filter(tenant_id=pk), now - timedelta(days=days))
            )
    random.shuffle(lanes)
    return lanes


def executions_prune(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_seconds: float = PRUNE_PASS_SECONDS,
    rest_ratio: float = PRUNE_REST_RATIO,
) -> PruneReport:
    """Delete finished executions older than their tenant's retention, ``batch_size`` rows
    (EXECUTION_PRUNE_BATCH_SIZE) per transaction, the tenants taking turns so one's backlog
    does not hold up another's, resting ``rest_ratio`` times each batch's time after it;
    stops after ``max_seconds`` (``done`` False)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.EXECUTION_PRUNE_BATCH_SIZE
    deadline = time.monotonic() + max_seconds
    lanes = prune_lanes(now=now)
    deleted = batches = 0
    while lanes:
        for lane in list(lanes):
            if time.monotonic() >= deadline:
                _log(deleted, batches, done=False)
                return PruneReport(deleted=deleted, batches=batches, done=False)
            started = time.monotonic()
            try:
                count, last = _delete_batch(lane, batch_size)
            except IntegrityError:
                # A replay of one of them was stored at that moment: this lane waits for the
                # next pass, which finds the replay and unlinks it first.
                logger.warning("Prune of tenant %s deferred: a row changed", lane.tenant_id)
                lanes.remove(lane)
                continue
            deleted += count
            batches += bool(count)
            if count:
                rest = (time.monotonic() - started) * rest_ratio
                time.sleep(max(0.0, min(rest, deadline - time.monotonic())))
            if count < batch_size:
                lanes.remove(lane)
            else:
                lane.after = last
    _log(deleted, batches, done=True)
    return PruneReport(deleted=deleted, batches=batches, done=True)


def _delete_batch(lane: _Lane, batch_size: int) -> tuple[int, tuple[datetime, int] | None]:
    """One batch of ``lane``, in one short transaction: (rows deleted, the last key). Found
    before the transaction (a finished execution does not change; on SQLite a transaction
    takes the write lock, which a tenant with nothing to delete does not need)."""
    rows = lane.next_batch(batch_size)
    if not rows:
        return 0, None
    ids = [pk for pk, _ in rows]
    table = Execution._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # SET NULL, as the model says, done here: the foreign key in the database has no
        # ON DELETE (Django applies on_delete itself, which would load every row first).
        doomed, params = _one_of("replay_of_id", ids)
        cursor.execute(f"UPDATE {table} SET replay_of_id = NULL WHERE {doomed}", params)
        doomed, params = _one_of("id", ids)
        cursor.execute(f"DELETE FROM {table} WHERE {doomed}", params)
    last_pk, last_created = rows[-1]
    return len(rows), (last_created, last_pk)


def _one_of(column: str, values: list[int]) -> tuple[str, list]:
    """``column`` is one of ``values``: one array parameter on PostgreSQL (one prepared
    statement whatever their number), one JSON array on SQLite (no limit on parameters)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(values)]


def _log(deleted: int, batches: int, *, done: bool) -> None:
    if deleted:
        logger.info(
            "Pruned %d finished execution(s) in %d batch(es)%s",
            deleted,
            batches,
            "" if done else "; more left for the next pass",
        )
