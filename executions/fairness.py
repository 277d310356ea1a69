"""Which waiting executions go to the workers next: fair dispatch, as a pure function.

The executions table is the queue of record; the broker carries only the executions in
flight, at most ``EXECUTION_MAX_IN_FLIGHT`` of them (executions/dispatch.py). When places
free up, ``pick`` chooses whom they go to, one place at a time:

1. **class** — the waiting execution of the best class (by default scheduled and manual
   runs before event-driven ones, ``EXECUTION_DISPATCH_CLASSES``) goes first;
2. **tenant** — among the tenants with one of that class, the one with the fewest
   executions in flight (those picked in this pass included), so a tenant that floods its
   webhooks holds many places and everyone else's next execution goes before its own;
3. **trigger** — within that tenant, the same rule over its triggers;
4. **age** — ties go to the execution that has waited longest; one trigger's executions
   run in the order they became available (a lane is first in, first out).

A trigger with a concurrency key (``config.concurrency``, triggers/event_rules.py) has a
lane per key value: at most its ``key_limit`` of one key are in flight, and among its keys
the one with the fewest in flight goes first, then the oldest — one busy key does not starve
the others, as one busy tenant does not starve the rest.

Limits: a trigger at its concurrency limit (its ``max_concurrency``, else
``EXECUTION_TRIGGER_MAX_IN_FLIGHT``) or a tenant at ``EXECUTION_TENANT_MAX_IN_FLIGHT`` is
passed over; a ``buffer_one`` trigger's scheduled execution, and a backfilled slot that
runs one after another (``waits_for_running``), waits while anything of its trigger is in
flight (its start would wait for the running one anyway).

A backfill's slots are scheduled executions of the class named ``backfill``
(``dispatch_kind``), not ``scheduled``: a thousand slots asked at once are not bounded by a
schedule, and must not take every place ahead of everyone's events.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The dispatch class name of a backfill's slots (EXECUTION_DISPATCH_CLASSES).
BACKFILL = "backfill"


@dataclass
class Waiting:
    """One waiting execution, as the dispatcher read it."""

    id: int
    execution_type: str
    available_at: datetime
    batchable: bool = False  # its runner answers at once: it may share a run message
    is_backfill: bool = False
    # It may not start while an execution of its trigger is in flight (a backfilled slot
    # under ``skip`` or ``buffer_one``: policies.start_waits_for_running).
    waits_for_running: bool = False

    @property
    def dispatch_kind(self) -> str:
        """What EXECUTION_DISPATCH_CLASSES calls it: its type, or ``backfill``."""
        return BACKFILL if self.is_backfill else self.execution_type


@dataclass
class Lane:
    """One trigger's waiting executions, oldest first (a keyed trigger's: one key's)."""

    tenant_id: Any
    trigger_id: int
    waiting: list[Waiting]
    limit: int | None = None  # the trigger's concurrency limit; None: no limit
    buffer_one: bool = False
    concurrency_key: str | None = None  # its executions' key (None: the trigger has none)
    key_limit: int | None = None  # at most this many of the key in flight; None: no limit
    _next: int = field(default=0, repr=False)

    def head(self) -> Waiting | None:
        return self.waiting[self._next] if self._next < len(self.waiting) else None


def class_ranks(classes: Sequence[Sequence[str]]) -> Callable[[str], int]:
    """``execution_type`` -> its class's rank (0 first); a type in no class comes last."""
    ranks = {kind: rank for rank, kinds in enumerate(classes) for kind in kinds}
    last = len(classes)
    return lambda kind: ranks.get(kind, last)


def pick(
    lanes: Sequence[Lane],
    *,
    places: int,
    in_flight_by_tenant: dict[Any, int],
    in_flight_by_trigger: dict[int, int],
    rank: Callable[[str], int],
    tenant_limit: int | None = None,
    scheduled_type: str = "scheduled",
    in_flight_by_key: dict[tuple[int, str], int] | None = None,
) -> list[Waiting]:
    """Up to ``places`` waiting executions, in the order they should be published.

    Two levels of heaps (tenants, and each tenant's lanes), so a pass over thousands of
    lanes costs O(places · log lanes). The ``in_flight`` counts are not changed;
    ``in_flight_by_key``: per (trigger, concurrency key), for the keyed lanes.
    """
    by_tenant = dict(in_flight_by_tenant)
    by_trigger = dict(in_flight_by_trigger)
    by_key = dict(in_flight_by_key or {})

    def lane_key(lane: Lane) -> tuple | None:
        """Where the lane's next execution stands, or None when it may not go now (a
        limit only fills up during a pass, so such a lane is done for this pass)."""
        head = lane.head()
        if head is None:
            return None
        running = by_trigger.get(lane.trigger_id, 0)
        if lane.limit is not None and running >= lane.limit:
            return None
        if running and (
            head.waits_for_running or (lane.buffer_one and head.execution_type == scheduled_type)
        ):
            return None
        keyed = 0
        if lane.concurrency_key is not None and lane.key_limit is not None:
            keyed = by_key.get((lane.trigger_id, lane.concurrency_key), 0)
            if keyed >= lane.key_limit:
                return None
        return (rank(head.dispatch_kind), running, keyed, head.available_at, head.id)

    tenant_lanes: dict[Any, list] = {}
    for order, lane in enumerate(lanes):
        key = lane_key(lane)
        if key is not None:
            tenant_lanes.setdefault(lane.tenant_id, []).append((key, order, lane))
    tenants: list = []
    for order, (tenant_id, heap) in enumerate(tenant_lanes.items()):
        heapq.heapify(heap)
        tenants.append(_tenant_entry(heap, by_tenant.get(tenant_id, 0), order, tenant_id))
    heapq.heapify(tenants)

    picked: list[Waiting] = []
    while tenants and len(picked) < places:
        _key, order, tenant_id = heapq.heappop(tenants)
        if tenant_limit is not None and by_tenant.get(tenant_id, 0) >= tenant_limit:
            continue
        heap = tenant_lanes[tenant_id]
        lane_standing, lane_order, lane = heapq.heappop(heap)
        key = lane_key(lane)
        if key != lane_standing:
            # A trigger with several lanes (keys): a pick from one of them moved the others'
            # standing, or filled the trigger's limit. Counts only grow, so a lane is looked
            # at again where it stands now (a heap with lazy updates).
            if key is not None:
                heapq.heappush(heap, (key, lane_order, lane))
            if heap:
                heapq.heappush(
                    tenants, _tenant_entry(heap, by_tenant.get(tenant_id, 0), order, tenant_id)
                )
            continue
        picked.append(lane.head())
        lane._next += 1
        by_tenant[tenant_id] = by_tenant.get(tenant_id, 0) + 1
        by_trigger[lane.trigger_id] = by_trigger.get(lane.trigger_id, 0) + 1
        if lane.concurrency_key is not None:
            pair = (lane.trigger_id, lane.concurrency_key)
            by_key[pair] = by_key.get(pair, 0) + 1
        key = lane_key(lane)
        if key is not None:
            heapq.heappush(heap, (key, lane_order, lane))
        if heap:
            heapq.heappush(tenants, _tenant_entry(heap, by_tenant[tenant_id], order, tenant_id))
    return picked


def _tenant_entry(heap: list, tenant_count: int, order: int, tenant_id: Any) -> tuple:
    """A tenant's place among tenants: its best lane's class, then how many it has in
    flight, then that lane's own standing (its trigger's count, its head's age)."""
    (lane_rank, *rest), _order, _lane = heap[0]
    return ((lane_rank, tenant_count, *rest), order, tenant_id)
