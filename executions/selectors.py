import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Lookup, Min, Q, QuerySet

from accounts.models import Tenant
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.policies import INSTANT_RUNNERS
from triggers import budgets, event_rules
from triggers.models import Trigger


@dataclass(frozen=True)
class HistoryRetention:
    """How far a tenant's execution history goes: finished executions are kept ``days``
    days (0: forever), so those that finished before ``since`` are deleted, or will be at
    the next prune pass (executions/services/retention.py); pending and running ones stay."""

    days: int
    since: datetime | None  # None: nothing is deleted


def retention_days(tenant: Tenant) -> int:
    """The tenant's own retention (the admin's tenant page), else EXECUTION_RETENTION_DAYS."""
    return retention_days_given(tenant.execution_retention_days)


def retention_days_given(own: int | None) -> int:
    """``retention_days`` for a tenant whose own retention (None: not set) was read already."""
    return settings.EXECUTION_RETENTION_DAYS if own is None else own


def history_retention(*, tenant: Tenant, now: datetime) -> HistoryRetention:
    days = retention_days(tenant)
    return HistoryRetention(days=days, since=now - timedelta(days=days) if days else None)


def execution_list(*, tenant: Tenant) -> QuerySet[Execution]:
    return Execution.objects.filter(tenant=tenant)


def execution_history(*, trigger: Trigger) -> QuerySet[Execution]:
    """A trigger's executions, newest first (served by the execution_trigger_newest index)."""
    return Execution.objects.filter(trigger=trigger).order_by("-created_at", "-id")


def pending_summary(tenant_ids: list[str] | None = None) -> tuple[int, datetime | None]:
    """(how many executions are pending, the earliest moment one of them could run), from the
    partial index execution_pending; of ``tenant_ids`` only, when given."""
    pending = executions_with_status(Execution.objects.all(), [ExecutionStatus.PENDING])
    if tenant_ids is not None:
        pending = pending.filter(tenant_id__in=tenant_ids)
    found = pending.aggregate(count=Count("*"), oldest=Min("available_at"))
    return found["count"], found["oldest"]


@dataclass(frozen=True)
class AgentCapacity:
    """Agent runs (runners that wait on an agent) against the places for them, so that a
    pending count comes with its reason (docs/ops-console.md)."""

    calls_in_flight: int  # started, an agent call open on a worker thread
    awaiting_results: int  # the runtime said 202: running, holding no worker
    dispatched: int  # handed to the agent queue, not started yet
    limit: int  # AGENT_MAX_IN_FLIGHT: calls in flight plus dispatched, at most


def agent_capacity(tenant_ids: list[str] | None = None) -> AgentCapacity:
    """The agent runs in flight now (``tenant_ids``' only, when given), from the small
    in-flight set of executions (partial indexes execution_in_flight and on status)."""
    live = executions_with_status(
        Execution.objects.all(), [ExecutionStatus.PENDING, ExecutionStatus.RUNNING]
    )
    if tenant_ids is not None:
        live = live.filter(tenant_id__in=tenant_ids)
    found = agent_runs(live).aggregate(
        calls=Count("pk", filter=Q(status=ExecutionStatus.RUNNING,
                                   awaiting_result_since__isnull=True)),
        awaiting=Count("pk", filter=Q(status=ExecutionStatus.RUNNING,
                                      awaiting_result_since__isnull=False)),
        dispatched=Count("pk", filter=Q(status=ExecutionStatus.PENDING,
                                        dispatched_at__isnull=False)),
    )  # fmt: skip
    return AgentCapacity(
        calls_in_flight=found["calls"],
        awaiting_results=found["awaiting"],
        dispatched=found["dispatched"],
        limit=settings.AGENT_MAX_IN_FLIGHT,
    )


def instant_runs_q() -> Q:
    """Executions whose runner answers at once (their agent's runner, else the default):
    policies.is_instant, as a filter."""
    instant = Q(trigger__agent__runner__in=INSTANT_RUNNERS)
    if settings.EXECUTION_RUNNER in INSTANT_RUNNERS:
        instant |= Q(trigger__agent__isnull=True) | Q(trigger__agent__runner="")
    return instant


def instant_runs(executions: QuerySet[Execution]) -> QuerySet[Execution]:
    return executions.filter(instant_runs_q())


def agent_runs(executions: QuerySet[Execution]) -> QuerySet[Execution]:
    return executions.exclude(instant_runs_q())


def executions_with_status(
    queryset: QuerySet[Execution], statuses: Iterable[str]
) -> QuerySet[Execution]:
    """``queryset`` narrowed to ``statuses``, written into the SQL as literals.

    Statements are prepared on PostgreSQL (config/settings.py), and after five runs
    PostgreSQL may plan one for any parameters: such a generic plan cannot prove that
    ``status IN ($1, $2)`` matches the partial index execution_trigger_failed, and reads the
    trigger's whole history instead (130 ms instead of 3 at 333,000 executions). With
    literals, every plan can."""
    return queryset.filter(_StatusIn(F("status"), list(statuses)))


class _StatusIn(Lookup):
    lookup_name = "status_in"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if not self.rhs or not set(self.rhs) <= set(ExecutionStatus.values):
            raise ValueError(f"not execution statuses: {self.rhs!r}")  # never user text
        column, params = self.process_lhs(compiler, connection)
        literals = ", ".join(f"'{status}'" for status in self.rhs)
        return f"{column} IN ({literals})", params


def recent_deliveries(*, trigger: Trigger, limit: int) -> QuerySet[Execution]:
    """A trigger's last ``limit`` executions but test runs, newest first, with what a filter
    reads (the filter dry run: triggers/event_rules.py ``would_run``)."""
    return (
        Execution.objects.filter(trigger=trigger, is_test=False)
        .order_by("-created_at", "-id")
        .only(
            "id", "execution_id", "execution_type", "created_at", "input_data", "request_payload"
        )[:limit]
    )


# A dry run tries a tenant's filter on up to 200 stored deliveries in one request: each on the
# budget its delivery had, and all of them within this long, so that a costly filter answers
# in seconds instead of holding a web worker for the sum of their budgets.
DRY_RUN_SECONDS = 3.0


def filter_dry_run(*, trigger: Trigger, values: dict) -> dict:
    """``values``' filters (checked by ``event_rules.filter_errors``) on the trigger's last
    ``values["limit"]`` deliveries: which would have run, newest first, and how many. A read:
    nothing is stored or changed (the frontend API's dry run and the admin's page).

    Each delivery is tried on one budget for its size, as when it came in
    (triggers/budgets.py); the deliveries left when DRY_RUN_SECONDS have passed are not
    tried (``not_tried``), nor the one under way then, whose verdict may be the clock's."""
    tried = event_rules.tried_filters(values)
    stop_at = time.monotonic() + DRY_RUN_SECONDS
    rows, not_tried = [], 0
    for execution in recent_deliveries(trigger=trigger, limit=values["limit"]):
        if time.monotonic() < stop_at:
            with budgets.one_budget(_stored_size(execution), not_after=stop_at):
                reason = event_rules.would_run(
                    tried,
                    input_data=execution.input_data,
                    request_payload=execution.request_payload,
                )
        if time.monotonic() >= stop_at:
            not_tried += 1
            continue
        rows.append(
            {
                "id": execution.pk,
                "execution_id": execution.execution_id,
                "execution_type": execution.execution_type,
                "created_at": execution.created_at,
                "would_run": reason is None,
                "reason": reason,
            }
        )
    runs = sum(row["would_run"] for row in rows)
    return {
        "total": len(rows),
        "would_run": runs,
        "filtered": len(rows) - runs,
        "not_tried": not_tried,
        "results": rows,
    }


def _stored_size(execution: Execution) -> int:
    """The size of the delivery an execution stored (its raw body), the measure of the
    budget its checks had; its input as JSON for one that kept no request."""
    request = execution.request_payload if isinstance(execution.request_payload, dict) else {}
    raw = request.get("raw_body")
    if isinstance(raw, str):
        return len(raw.encode("utf-8", "replace"))
    return len(json.dumps(execution.input_data, default=str))
