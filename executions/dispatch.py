"""Handing executions to the workers: the executions table is the queue, the broker carries
only what is in flight.

Every firing stores its execution pending, with ``dispatched_at`` empty: it waits in the
database. A **dispatch pass** (``dispatch_waiting``) then publishes run messages for at most
``EXECUTION_MAX_IN_FLIGHT`` executions in flight (dispatched, not finished), chosen fairly
across tenants and triggers with scheduled and manual runs first (executions/fairness.py),
and stamps ``dispatched_at`` on them. Passes run after the commit of new executions, after
each finished execution (a place is free), and every ``EXECUTION_DISPATCH_INTERVAL_SECONDS``
on the control queue (``dispatch_executions``, the safety net that also picks up retries
whose backoff is over). Passes take a transaction-level advisory lock, so several processes
may run them: one at a time counts and claims, none exceeds the bound.

A run message carries one execution, or — for executions whose runner answers at once
(``dry_run``, ``INSTANT_RUNNERS``) — a batch of up to ``EXECUTION_RUN_BATCH_SIZE``: the worker
starts a batch in one statement and stores its results in another (executions/services/
batches.py), so an execution costs a fraction of a message. An execution whose agent takes
seconds always travels alone: none waits in a worker behind another's agent.

A row is always committed before its message is published, so a worker never looks for a
row that is not there yet. Publishing may fail (the broker is down): that is logged, not
raised, and the claimed executions go back to waiting; a later pass publishes them. A
message lost after it was published (a broker that lost its data, a process killed between
claim and publish) is the sweeper's (executions/services/sweeper.py).

Event firings (webhooks, Slack events) come one per request, hundreds a second. They do not
run a pass each: they wake this process's ``BatchPublisher`` thread, which runs one pass for
what arrived within ``EXECUTION_PUBLISH_BATCH_MS``. A worker's finished executions do the
same. The sender's 2xx still comes only after the commit.
"""

import atexit
import contextlib
import json
import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from accounts.models import Agent
from executions import broker, fairness
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.policies import INSTANT_RUNNERS, is_instant, start_waits_for_running
from triggers import event_rules
from triggers.choices import OverlapPolicy
from triggers.models import Trigger

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the dispatch pass ("dispatch" in ASCII).
_LOCK_KEY = 0x6469737061746368
# Lanes (triggers) read per tenant beyond the free places: some may be at their limit, or
# hold only later classes.
_SPARE_LANES = 32
# One pass claims at most this many (a larger bound fills up over several passes).
_MAX_PER_PASS = 1000
_PENDING, _RUNNING = ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value
_WAITING = f"e.status = '{_PENDING}' AND e.dispatched_at IS NULL"
# ">= '-infinity'" is IS NOT NULL as a range on execution_in_flight's key, so the planner
# reads that small index even without statistics, not a backlog through execution_unfinished.
# (On SQLite, which stores datetimes as ISO text, every date sorts after '-infinity' too.)
_IN_FLIGHT = f"status IN ('{_PENDING}', '{_RUNNING}') AND dispatched_at >= '-infinity'"
_IN_FLIGHT_TOTAL_SQL = f"SELECT count(*) FROM executions_execution WHERE {_IN_FLIGHT}"
# Counted before the joins: a join on trigger_id would let the planner probe
# execution_unfinished per trigger, reading every waiting execution.
# Grouped by concurrency key too (NULL for triggers without one: one group, as before).
_IN_FLIGHT_COUNTS_SQL = (
    "SELECT f.tenant_id, f.trigger_id, a.runner, f.n, f.concurrency_key FROM "
    "(SELECT tenant_id, trigger_id, concurrency_key, count(*) AS n FROM executions_execution "
    f"WHERE {_IN_FLIGHT} GROUP BY tenant_id, trigger_id, concurrency_key) f "
    "JOIN triggers_trigger t ON t.id = f.trigger_id "
    "LEFT JOIN accounts_agent a ON a.id = t.agent_id"
)


def enqueue_on_commit(
    execution_ids: Iterable[uuid.UUID],
    *,
    batched: bool = False,
    may_wait: bool = False,
    database: BaseDatabaseWrapper | None = None,
) -> None:
    """Once the transaction commits, run a dispatch pass for the new waiting executions.

    ``batched`` (event firings, finished executions): through the process's BatchPublisher,
    unless EXECUTION_PUBLISH_BATCH_MS is 0; otherwise at once, in the committing thread.
    ``may_wait``: new executions that free no place (an event firing), whose pass may wait
    out the publisher's backoff against a full queue. ``database``: the default database's
    connection, when the caller holds it already (a webhook delivery's hot path), as
    ``transaction.on_commit`` would look it up.
    """
    ids = list(execution_ids)
    if not ids:
        return
    if database is None:
        database = transaction.get_connection()
    if batched and settings.EXECUTION_PUBLISH_BATCH_MS > 0:
        database.on_commit(lambda: batch_publisher.submit(ids, may_wait=may_wait))
    else:
        database.on_commit(dispatch_waiting)


def enqueue(
    messages: Iterable[uuid.UUID | list[uuid.UUID]], *, agent_runs: Collection = frozenset()
) -> int:
    """Publish run messages, each for one execution id or a batch (a list of them); returns
    how many executions were published.

    An agent run (in ``agent_runs``: ``agent_run_ids`` tells them) goes to the agent queue,
    the rest to the run queue. They go out together per queue (one LPUSH on Redis,
    executions/broker.py); a failed publish publishes none of them, and 0 is returned.
    """
    messages = list(messages)
    agent_ids = {str(i) for i in agent_runs}
    by_queue: dict[str | None, list] = {}  # None: the run queue
    for message in messages:
        if isinstance(message, list):
            by_queue.setdefault(None, []).append([str(i) for i in message])
        else:
            queue = settings.CELERY_AGENT_QUEUE if str(message) in agent_ids else None
            by_queue.setdefault(queue, []).append(str(message))
    count = len(_execution_ids(messages))
    try:
        for queue, arguments in by_queue.items():
            broker.publish_run_messages(arguments, queue=queue)
    except Exception:  # the broker's error types depend on the transport
        logger.warning(
            "Broker unavailable: %d executions left pending, dispatched again later",
            count,
            exc_info=True,
        )
        return 0
    return count


def _agent_runs_configured() -> bool:
    """Can any execution be an agent run (its agent's runner, or the default, waits on an
    agent)? When none can, a pass reads only as many lanes as instant runs have places."""
    if settings.EXECUTION_RUNNER not in INSTANT_RUNNERS:
        return True
    return Agent.objects.exclude(runner="").exclude(runner__in=INSTANT_RUNNERS).exists()


def agent_run_ids(execution_ids: list) -> set:
    """Those of ``execution_ids`` whose runner waits on an agent (not INSTANT_RUNNERS)."""
    if not execution_ids:
        return set()
    runners = Execution.objects.filter(execution_id__in=execution_ids).values_list(
        "execution_id", "trigger__agent__runner"
    )
    return {
        execution_id
        for execution_id, runner in runners
        if not is_instant(runner, settings.EXECUTION_RUNNER)
    }


def dispatch_waiting(*, now: datetime | None = None, min_places: int = 1) -> int:
    """One dispatch pass: claim waiting executions for the free places, fairly, and publish
    them once that is committed; returns how many were published.

    Instant runs (``INSTANT_RUNNERS``) and agent runs have places of their own —
    ``EXECUTION_MAX_IN_FLIGHT`` and ``AGENT_MAX_IN_FLIGHT`` — since they go to workers of
    their own (the run queue's and the agent queue's); a thousand agent calls in flight take
    no place from a cron slot's dry run, nor the other way round.

    ``min_places``: do nothing unless at least that many places are free (the passes after
    each finished execution refill in batches rather than one by one).
    """
    return _dispatch(now=now, min_places=min_places) or 0


def _dispatch(*, now: datetime | None, min_places: int) -> int | None:
    """``dispatch_waiting``; None when fewer than ``min_places`` places were free."""
    limits = {True: settings.EXECUTION_MAX_IN_FLIGHT, False: settings.AGENT_MAX_IN_FLIGHT}
    if not _agent_runs_configured():  # every run is instant: read lanes for those only
        limits[False] = 0  # else a full run queue never looks full below, and each pass locks
    if _in_flight_total() > sum(limits.values()) - min_places:  # one index read, no lock
        return None
    with transaction.atomic():
        if connection.vendor == "postgresql":  # SQLite's BEGIN IMMEDIATE already serializes
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        by_tenant, by_trigger, by_class, by_key = _in_flight_counts()
        places = {instant: limit - by_class[instant] for instant, limit in limits.items()}
        if max(places.values()) <= 0:
            return 0
        now = now or timezone.now()
        lanes = _waiting_lanes(
            min(sum(p for p in places.values() if p > 0), _MAX_PER_PASS), now, len(by_key)
        )
        _count_awaiting_results(lanes, by_trigger)
        picked: list[fairness.Waiting] = []
        for instant in (True, False):  # a trigger's runs are all of one kind
            kind_lanes = [lane for lane in lanes if lane.waiting[0].batchable is instant]
            if places[instant] <= 0 or not kind_lanes:
                continue
            chosen = fairness.pick(
                kind_lanes,
                places=min(places[instant], _MAX_PER_PASS - len(picked)),
                in_flight_by_tenant=by_tenant,
                in_flight_by_trigger=by_trigger,
                rank=fairness.class_ranks(settings.EXECUTION_DISPATCH_CLASSES),
                tenant_limit=settings.EXECUTION_TENANT_MAX_IN_FLIGHT or None,
                scheduled_type=ExecutionType.SCHEDULED,
                in_flight_by_key=by_key,
            )
            tenant_of = {lane.trigger_id: lane.tenant_id for lane in kind_lanes}
            trigger_of = {w.id: lane.trigger_id for lane in kind_lanes for w in lane.waiting}
            for waiting in chosen:  # the tenant limit spans both kinds
                tenant = tenant_of[trigger_of[waiting.id]]
                by_tenant[tenant] = by_tenant.get(tenant, 0) + 1
            picked += chosen
        if not picked:
            return 0
        claimed = _claim([w.id for w in picked], now)
        messages = run_messages(
            [w for w in picked if w.id in claimed],
            claimed,
            batch_size=settings.EXECUTION_RUN_BATCH_SIZE,
        )
        agent_runs = {claimed[w.id] for w in picked if w.id in claimed and not w.batchable}
    if connection.in_atomic_block:  # a caller's transaction: publish once it commits
        transaction.on_commit(lambda: _publish(messages, agent_runs))
        return len(claimed)
    return _publish(messages, agent_runs)


def run_messages(
    picked: list[fairness.Waiting], execution_ids: dict[int, uuid.UUID], *, batch_size: int
) -> list[uuid.UUID | list[uuid.UUID]]:
    """The picked executions as run messages, in the order picked: an execution of an
    instant runner joins the open batch (a new one starts where the last is full), any
    other goes alone. A batch keeps the place of its first execution."""
    messages: list = []
    batch: list | None = None
    for waiting in picked:
        execution_id = execution_ids[waiting.id]
        if not waiting.batchable or batch_size <= 1:
            messages.append(execution_id)
            continue
        if batch is None or len(batch) >= batch_size:
            batch = []
            messages.append(batch)
        batch.append(execution_id)
    return [m[0] if isinstance(m, list) and len(m) == 1 else m for m in messages]


def _claim(pks: list[int], now: datetime) -> dict[int, uuid.UUID]:
    """Mark the picked executions dispatched (those still waiting); pk -> execution_id."""
    picked, picked_params = _one_of("e.id", pks)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE executions_execution AS e SET dispatched_at = %s WHERE {picked} "
            f"AND {_WAITING} RETURNING id, execution_id",
            [connection.ops.adapt_datetimefield_value(now), *picked_params],
        )
        field = Execution._meta.get_field("execution_id")
        return {pk: field.to_python(execution_id) for pk, execution_id in cursor.fetchall()}


def _one_of(column: str, values: list) -> tuple[str, list]:
    """SQL for ``column`` being one of ``values``, with its parameters: one array on
    PostgreSQL (one prepared statement whatever their number); SQLite has no arrays and
    reads them from one JSON array instead."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(values)]


def _publish(messages: list, agent_runs: set) -> int:
    """Publish claimed executions; on failure they go back to waiting."""
    published = enqueue(messages, agent_runs=agent_runs)
    if not published:
        Execution.objects.filter(
            execution_id__in=_execution_ids(messages), status=ExecutionStatus.PENDING
        ).update(dispatched_at=None)
    return published


def _execution_ids(messages: list) -> list:
    """The execution ids run messages carry (a batch's several, another's one)."""
    return [i for m in messages for i in (m if isinstance(m, list) else [m])]


def _count_awaiting_results(lanes: list[fairness.Lane], by_trigger: dict[int, int]) -> None:
    """A run whose agent answered 202 and posts its result later (docs/runners.md) gives its
    place back (``dispatched_at`` NULL), so the in-flight counts miss it, yet it runs. A slot
    that may start only when nothing of its trigger runs (``buffer_one``, a backfill's one
    after another) would be handed to a worker, sent back (lifecycle ``_start_one``) and handed
    over again at every pass for as long as that result is awaited. The triggers of such
    lanes with nothing in flight are looked up (few; ``execution_unfinished``) and counted as
    running one."""
    idle = {
        lane.trigger_id
        for lane in lanes
        if not by_trigger.get(lane.trigger_id)
        and (
            lane.waiting[0].waits_for_running
            or (lane.buffer_one and lane.waiting[0].execution_type == ExecutionType.SCHEDULED)
        )
    }
    if not idle:
        return
    awaiting = Execution.objects.filter(
        trigger_id__in=idle,
        status=ExecutionStatus.RUNNING,
        awaiting_result_since__isnull=False,
    ).values_list("trigger_id", flat=True)
    for trigger_id in set(awaiting):
        by_trigger[trigger_id] = 1


def _in_flight_total() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_IN_FLIGHT_TOTAL_SQL)
        return cursor.fetchone()[0]


def _in_flight_counts() -> tuple[dict, dict[int, int], dict[bool, int], dict[tuple, int]]:
    """(in flight per tenant, per trigger, per kind: instant or not, per (trigger,
    concurrency key)), from the small partial index execution_in_flight (and each trigger's
    agent, for its runner)."""
    by_tenant: dict = {}
    by_trigger: dict[int, int] = {}
    by_class = {True: 0, False: 0}
    by_key: dict[tuple, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(_IN_FLIGHT_COUNTS_SQL)
        for tenant_id, trigger_id, runner, count, key in cursor.fetchall():
            by_tenant[tenant_id] = by_tenant.get(tenant_id, 0) + count
            by_trigger[trigger_id] = by_trigger.get(trigger_id, 0) + count
            by_class[is_instant(runner, settings.EXECUTION_RUNNER)] += count
            if key is not None:
                by_key[(trigger_id, key)] = count
    return by_tenant, by_trigger, by_class, by_key


# The tenants and triggers with waiting executions, by skip scans over execution_waiting
# (each step one index probe, whatever the backlog): every tenant's, then for each at most
# ``per_tenant`` triggers, from a pivot between its lowest and highest trigger id (``turn``,
# a fraction drawn per pass, of the way) upwards, then wrapping round from the lowest. The
# pivot moves from pass to pass, so a tenant with more waiting triggers than a pass reads
# has each read in its turn, not only its lowest ids.
_LANES_SQL = f"""
WITH RECURSIVE tenants (tenant_id) AS (
    (SELECT e.tenant_id FROM executions_execution e WHERE {_WAITING}
     ORDER BY e.tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.tenant_id FROM executions_execution e
            WHERE {_WAITING} AND e.tenant_id > tenants.tenant_id ORDER BY e.tenant_id LIMIT 1)
    FROM tenants WHERE tenants.tenant_id IS NOT NULL
)
SELECT t.tenant_id, lane.trigger_id
FROM tenants t
CROSS JOIN LATERAL (
    SELECT lo.trigger_id
           + floor(%(turn)s::float8 * (hi.trigger_id - lo.trigger_id + 1))::bigint AS pivot
    FROM (SELECT e.trigger_id FROM executions_execution e
          WHERE {_WAITING} AND e.tenant_id = t.tenant_id ORDER BY e.trigger_id LIMIT 1) lo,
         (SELECT e.trigger_id FROM executions_execution e
          WHERE {_WAITING} AND e.tenant_id = t.tenant_id ORDER BY e.trigger_id DESC LIMIT 1) hi
) p
CROSS JOIN LATERAL (
    WITH RECURSIVE up (trigger_id, n) AS (
        SELECT (SELECT e.trigger_id FROM executions_execution e WHERE {_WAITING}
                AND e.tenant_id = t.tenant_id AND e.trigger_id >= p.pivot
                ORDER BY e.trigger_id LIMIT 1), 1
        UNION ALL
        SELECT (SELECT e.trigger_id FROM executions_execution e WHERE {_WAITING}
                AND e.tenant_id = t.tenant_id AND e.trigger_id > up.trigger_id
                ORDER BY e.trigger_id LIMIT 1), up.n + 1
        FROM up WHERE up.trigger_id IS NOT NULL AND up.n < %(per_tenant)s::int
    ), found_up (n) AS (
        SELECT count(*)::int FROM up WHERE up.trigger_id IS NOT NULL
    ), wrapped (trigger_id, n) AS (
        SELECT (SELECT e.trigger_id FROM executions_execution e WHERE {_WAITING}
                AND e.tenant_id = t.tenant_id AND e.trigger_id < p.pivot
                ORDER BY e.trigger_id LIMIT 1), found_up.n + 1
        FROM found_up WHERE found_up.n < %(per_tenant)s::int
        UNION ALL
        SELECT (SELECT e.trigger_id FROM executions_execution e WHERE {_WAITING}
                AND e.tenant_id = t.tenant_id AND e.trigger_id > wrapped.trigger_id
                AND e.trigger_id < p.pivot ORDER BY e.trigger_id LIMIT 1), wrapped.n + 1
        FROM wrapped WHERE wrapped.trigger_id IS NOT NULL AND wrapped.n < %(per_tenant)s::int
    )
    SELECT up.trigger_id FROM up WHERE up.trigger_id IS NOT NULL
    UNION ALL
    SELECT wrapped.trigger_id FROM wrapped WHERE wrapped.trigger_id IS NOT NULL
) lane
WHERE t.tenant_id IS NOT NULL
LIMIT %(max_lanes)s::int
"""
# What a pass's reads of waiting executions turn off, local to its transaction (_in_index_order).
_PLANNER_SETTINGS = ("enable_sort", "enable_incremental_sort", "jit")
_PLANNER_SETTINGS_SQL = "SELECT " + ", ".join(f"current_setting('{s}')" for s in _PLANNER_SETTINGS)
_PLANNER_SET_SQL = "SELECT " + ", ".join(f"set_config('{s}', %s, true)" for s in _PLANNER_SETTINGS)
# Each lane's oldest waiting executions that may run now, with what the rules need (and
# the runner its agent chose, for batching).
_ROWS_SQL = f"""
SELECT lane.tenant_id, lane.trigger_id, t.max_concurrency, t.overlap_policy,
       w.id, w.execution_type, w.available_at, a.runner, w.concurrency_key, w.is_backfill
FROM unnest(%(tenants)s::varchar[], %(triggers)s::bigint[]) AS lane (tenant_id, trigger_id)
JOIN triggers_trigger t ON t.id = lane.trigger_id
LEFT JOIN accounts_agent a ON a.id = t.agent_id
CROSS JOIN LATERAL (
    SELECT e.id, e.execution_type, e.available_at, e.concurrency_key, e.is_backfill
    FROM executions_execution e
    WHERE e.tenant_id = lane.tenant_id AND e.trigger_id = lane.trigger_id AND {_WAITING}
      AND e.available_at <= %(now)s::timestamptz
    ORDER BY e.available_at, e.id LIMIT %(per_lane)s::int
) w
ORDER BY lane.tenant_id, lane.trigger_id, w.available_at, w.id
"""
# A keyed trigger's waiting executions, per key (config.concurrency): its keys by a skip scan
# over execution_waiting_keyed (one probe per key, whatever each key's backlog), then each
# key's oldest. Read only for the triggers whose oldest rows above carry a key, so a pass
# over triggers without keys costs what it did.
_KEYED_ROWS_SQL = f"""
SELECT t.tenant_id, t.id, t.max_concurrency, t.overlap_policy,
       w.id, w.execution_type, w.available_at, a.runner, w.concurrency_key, w.is_backfill
FROM unnest(%(triggers)s::bigint[]) AS lane (trigger_id)
JOIN triggers_trigger t ON t.id = lane.trigger_id
LEFT JOIN accounts_agent a ON a.id = t.agent_id
CROSS JOIN LATERAL (
    WITH RECURSIVE keys (concurrency_key, n) AS (
        SELECT (SELECT e.concurrency_key FROM executions_execution e
                WHERE {_WAITING} AND e.trigger_id = lane.trigger_id
                  AND e.concurrency_key IS NOT NULL
                ORDER BY e.concurrency_key LIMIT 1), 1
        UNION ALL
        SELECT (SELECT e.concurrency_key FROM executions_execution e
                WHERE {_WAITING} AND e.trigger_id = lane.trigger_id
                  AND e.concurrency_key > keys.concurrency_key
                ORDER BY e.concurrency_key LIMIT 1), keys.n + 1
        FROM keys WHERE keys.concurrency_key IS NOT NULL AND keys.n < %(max_keys)s::int
    )
    SELECT keys.concurrency_key FROM keys WHERE keys.concurrency_key IS NOT NULL
) k
CROSS JOIN LATERAL (
    SELECT e.id, e.execution_type, e.available_at, e.concurrency_key, e.is_backfill
    FROM executions_execution e
    WHERE e.trigger_id = lane.trigger_id AND e.concurrency_key = k.concurrency_key
      AND {_WAITING} AND e.available_at <= %(now)s::timestamptz
    ORDER BY e.available_at, e.id LIMIT %(per_key)s::int
) w
ORDER BY t.tenant_id, t.id, w.available_at, w.id
"""


def _waiting_lanes(places: int, now: datetime, keys_in_flight: int = 0) -> list[fairness.Lane]:
    """The waiting executions a pass chooses among, as lanes (one per trigger, or per key of
    a trigger with a concurrency key). ``keys_in_flight``: how many keys have executions in
    flight (some may be at their limit: the keyed read looks that many keys further)."""
    default_limit = settings.EXECUTION_TRIGGER_MAX_IN_FLIGHT or None
    if connection.vendor != "postgresql":  # the skip scans need LATERAL, which SQLite lacks
        rows = _waiting_lanes_portable(places, now)
        return _lanes(rows, default_limit, _key_limits(rows))
    with connection.cursor() as cursor, _in_index_order(cursor):
        cursor.execute(
            _LANES_SQL,
            {
                "per_tenant": places + _SPARE_LANES,
                "turn": random.random(),
                "max_lanes": (places + _SPARE_LANES) * 20,
            },
        )
        found = cursor.fetchall()
        if not found:
            return []
        cursor.execute(
            _ROWS_SQL,
            {
                "tenants": [tenant for tenant, _ in found],
                "triggers": [trigger for _, trigger in found],
                "now": now,
                "per_lane": max(1, math.ceil(places / len(found))),
            },
        )
        rows = cursor.fetchall()
        key_limits = _key_limits(rows)
        limited = {pk: limit for pk, limit in key_limits.items() if limit}
        if limited:
            cursor.execute(
                _KEYED_ROWS_SQL,
                {
                    "triggers": list(limited),
                    "now": now,
                    "max_keys": places + _SPARE_LANES + keys_in_flight,
                    "per_key": max(1, min(places, max(limited.values()))),
                },
            )
            unkeyed = [row for row in rows if row[8] is None or row[1] not in limited]
            rows = unkeyed + cursor.fetchall()
    return _lanes(rows, default_limit, key_limits)


@contextlib.contextmanager
def _in_index_order(cursor):
    """The reads of a pass take waiting executions in the order of the indexes made for them
    (execution_waiting, execution_waiting_keyed), never all of a lane's to sort them.

    The planner's statistics are those of a table where few executions wait, the usual
    state (or none yet: a new table) until a flood has queued thousands; it may then find it
    as cheap to read a lane through execution_unfinished and sort what it finds, and each
    pass reads every waiting execution of every lane: 40 ms at 50,000 waiting rather than
    0.5 ms, on every pass, while the flood lasts (docs/benchmarks.md, "Fair execution under
    load"); or read execution_pending in time order, through every lane's. Sorting is
    therefore off for these reads (incremental sorting too), and JIT: the planner prices
    the one sort it cannot avoid (the result's order) so high that it would compile it. The
    settings are local to the transaction and restored after; an error rolls them back with
    the transaction (or the savepoint) it aborts, so they are not restored on one: a query in
    an aborted transaction would hide the error."""
    cursor.execute(_PLANNER_SETTINGS_SQL)
    saved = cursor.fetchone()
    cursor.execute(_PLANNER_SET_SQL, ["off"] * len(saved))
    yield
    cursor.execute(_PLANNER_SET_SQL, saved)


def _key_limits(rows) -> dict[int, int | None]:
    """The per-key limit of each trigger whose waiting rows carry a concurrency key (None:
    its config no longer has one, and its keyed executions go as any other)."""
    keyed = {row[1] for row in rows if row[8] is not None}
    if not keyed:
        return {}
    configs = Trigger.objects.filter(pk__in=keyed).values_list("pk", "config")
    return {pk: event_rules.concurrency_limit(config) for pk, config in configs}


def _waiting_lanes_portable(places, now) -> list:
    """SQLite (one machine, the embedded default): the oldest waiting executions (a keyed
    trigger's busy key may fill this read; its other keys then wait for a later pass)."""
    rows = (
        Execution.objects.filter(
            status=ExecutionStatus.PENDING, dispatched_at__isnull=True, available_at__lte=now
        )
        .order_by("available_at", "id")
        .values_list(
            "tenant_id",
            "trigger_id",
            "trigger__max_concurrency",
            "trigger__overlap_policy",
            "id",
            "execution_type",
            "available_at",
            "trigger__agent__runner",
            "concurrency_key",
            "is_backfill",
        )[: places * 20]
    )
    return list(rows)


def _lanes(rows, default_limit, key_limits: dict | None = None) -> list[fairness.Lane]:
    """Waiting rows (tenant, trigger, its limit, its overlap policy, id, type, available_at,
    its agent's runner, its concurrency key, is_backfill), grouped into one lane per trigger —
    per key of a trigger with a concurrency key (``key_limits``: trigger -> limit) — in the
    rows' order."""
    key_limits = key_limits or {}
    lanes: dict[tuple, fairness.Lane] = {}
    for row in rows:
        tenant_id, trigger_id, limit, overlap, pk, kind, available_at, runner, key, backfill = row
        key_limit = key_limits.get(trigger_id) if key is not None else None
        if key_limit is None:
            key = None  # no limit per key: the trigger's one lane
        lane = lanes.get((trigger_id, key))
        if lane is None:
            lane = lanes[(trigger_id, key)] = fairness.Lane(
                tenant_id,
                trigger_id,
                [],
                limit=limit or default_limit,
                buffer_one=overlap == OverlapPolicy.BUFFER_ONE,
                concurrency_key=key,
                key_limit=key_limit,
            )
        batchable = is_instant(runner, settings.EXECUTION_RUNNER)
        lane.waiting.append(
            fairness.Waiting(
                pk,
                kind,
                available_at,
                batchable,
                is_backfill=backfill,
                waits_for_running=backfill
                and start_waits_for_running(overlap, kind, is_backfill=True),
            )
        )
    return list(lanes.values())


class BatchPublisher:
    """Runs ``publish`` (here: a dispatch pass) from a background thread, once for whatever
    arrives together.

    ``submit`` only appends; the thread, started by the first submit in each process, wakes,
    lets ``linger()`` seconds of further submissions gather, then calls ``publish`` once with
    them all; ``publish`` returns how many it published, or None when it could not for want
    of room (the run queue is full). ``flush`` does so at once: at interpreter exit, so a
    process that stops gracefully dispatches what it stored, and in tests. ``on_idle`` is
    called on the thread once nothing was submitted for ``IDLE_SECONDS``.

    A batch that found the run queue full (None) doubles the wait before the next, up to
    ``MAX_BACKOFF`` times ``linger()``; any other resets it, and so does a submission that
    may not wait (a finished execution: its place is free now). A flood of
    event firings against a full queue then costs a pass per backoff, not one per commit.
    """

    IDLE_SECONDS = 0.5
    MAX_BACKOFF = 16

    def __init__(
        self,
        *,
        linger: Callable[[], float],
        publish: Callable[[list], int],
        on_idle: Callable[[], None] | None = None,
    ):
        self.linger = linger
        self.publish = publish
        self.on_idle = on_idle
        self._reset()
        # A forked child gets a copy of the pending ids (its parent publishes those) and
        # no thread: it starts afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()  # guards _pending and _thread
        self._publishing = threading.Lock()  # one batch at a time, in order
        self._wake = threading.Event()
        self._hurry = threading.Event()  # cuts a backoff short
        self._pending: list[uuid.UUID] = []
        self._thread: threading.Thread | None = None
        self._backoff = 1  # linger() times this before the next batch

    def next_wait(self, *, full: bool) -> float:
        """Seconds to let submissions gather after a batch (``full``: it found no room)."""
        self._backoff = min(self._backoff * 2, self.MAX_BACKOFF) if full else 1
        return self.linger() * self._backoff

    def submit(self, execution_ids: Iterable[uuid.UUID], *, may_wait: bool = False) -> None:
        with self._lock:
            self._pending.extend(execution_ids)
            if not may_wait:
                self._backoff = 1
                self._hurry.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="run-message-publisher", daemon=True
                )
                self._thread.start()
        if not self._wake.is_set():  # set() takes a lock and notifies, even when set
            self._wake.set()

    def flush(self) -> int | None:
        """Publish everything waiting now (after a batch in flight); returns how many (None:
        no room)."""
        with self._publishing:
            with self._lock:
                batch, self._pending = self._pending, []
            return self.publish(batch) if batch else 0

    def _run(self) -> None:
        full = False
        while True:
            if not self._wake.wait(timeout=self.IDLE_SECONDS):
                if self.on_idle is not None:
                    self.on_idle()
                self._wake.wait()
                full = False
            backed_off = self.next_wait(full=full) - self.linger()
            if backed_off > 0:
                self._hurry.wait(timeout=backed_off)
            time.sleep(self.linger())
            # Cleared before the flush: a message submitted during it wakes the next round.
            self._wake.clear()
            self._hurry.clear()
            try:
                full = self.flush() is None
            except Exception:  # ``publish`` logs broker errors; this must never die
                logger.exception("Publishing run messages failed")
                full = False


def _dispatch_from_thread(_ids: list) -> int | None:
    """A pass on the BatchPublisher's thread (a database connection of its own), or at exit;
    None when the run queue had no room (the publisher backs off)."""
    own_connection = not connection.in_atomic_block
    if own_connection:
        close_old_connections()
    try:
        # A quarter of the bound at a time: a worker finishing executions does not run a
        # pass for each (an idle service has all places free, so nothing waits for this).
        return _dispatch(now=None, min_places=max(1, settings.EXECUTION_MAX_IN_FLIGHT // 4))
    except Exception:  # the database is away: the periodic pass dispatches them later
        logger.warning("Dispatch pass failed", exc_info=True)
        return 0


batch_publisher = BatchPublisher(
    linger=lambda: settings.EXECUTION_PUBLISH_BATCH_MS / 1000,
    publish=_dispatch_from_thread,
    # The thread's own database connection is not left open in every idle process.
    on_idle=lambda: connection.close(),
)
atexit.register(batch_publisher.flush)
