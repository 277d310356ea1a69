"""What the ops console shows (docs/ops-console.md): reads only, each scoped to tenants.

``tenant_ids`` is the list of tenants the viewer may see, or None for every tenant (a
superuser); the admin passes it (executions/admin.py). Every query is served by an index:
the dashboard stays cheap with millions of executions.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet

from accounts.models import Tenant
from executions import heartbeats
from executions.choices import ExecutionStatus
from executions.models import Execution, ServiceHeartbeat
from executions.selectors import (
    AgentCapacity,
    agent_capacity,
    pending_summary,
    retention_days,
)
from triggers import schedule
from triggers.choices import TriggerStatus
from triggers.models import Trigger

DASHBOARD_WINDOW = timedelta(hours=24)
NEXT_FIRES = 20
ATTENTION_TRIGGERS = 50
TIMELINE_LENGTH = 25


def _scoped(queryset: QuerySet, tenant_ids: list[str] | None) -> QuerySet:
    return queryset if tenant_ids is None else queryset.filter(tenant_id__in=tenant_ids)


@dataclass
class Dashboard:
    since: datetime
    by_status: dict[str, int]
    total: int
    failure_rate: float | None  # failed / finished (completed + failed), None: none finished
    attention: list[Trigger]  # failed (frozen) and stale triggers, with their reasons
    next_fires: list[Trigger]
    pending: int
    oldest_pending_age_seconds: float | None
    scheduler: ServiceHeartbeat | None
    scheduler_age_seconds: float | None
    services: list[dict]  # every process's heartbeat: service, instance, age, details
    agents: AgentCapacity  # agent calls in flight, awaiting results, against the limit


def dashboard(*, tenant_ids: list[str] | None, now: datetime) -> Dashboard:
    since = now - DASHBOARD_WINDOW
    counts = (
        _scoped(Execution.objects.filter(created_at__gte=since), tenant_ids)
        .order_by()
        .values("status")
        .annotate(n=Count("*"))
    )
    by_status = {status: 0 for status in ExecutionStatus.values}
    by_status.update({row["status"]: row["n"] for row in counts})
    finished = by_status[ExecutionStatus.COMPLETED] + by_status[ExecutionStatus.FAILED]
    pending, oldest = pending_summary(tenant_ids)
    beat = heartbeats.heartbeats(heartbeats.SCHEDULER).first()
    return Dashboard(
        since=since,
        by_status=by_status,
        total=sum(by_status.values()),
        failure_rate=by_status[ExecutionStatus.FAILED] / finished if finished else None,
        attention=list(
            _scoped(Trigger.objects.all(), tenant_ids)
            .filter(status__in=[TriggerStatus.FAILED, TriggerStatus.STALE])
            .select_related("tenant")
            .order_by("-error_at", "-id")[:ATTENTION_TRIGGERS]
        ),
        next_fires=list(
            _scoped(Trigger.objects.all(), tenant_ids)
            .filter(status=TriggerStatus.ACTIVE, next_fire_at__isnull=False)
            .select_related("tenant")
            .order_by("next_fire_at")[:NEXT_FIRES]
        ),
        pending=pending,
        oldest_pending_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else None,
        scheduler=beat,
        scheduler_age_seconds=(now - beat.beat_at).total_seconds() if beat else None,
        services=[
            {
                "service": row.service,
                "instance": row.instance,
                "age_seconds": (now - row.beat_at).total_seconds(),
                "started_at": row.started_at,
                "details": row.details,
            }
            for row in ServiceHeartbeat.objects.order_by("service", "-beat_at")
        ],
        agents=agent_capacity(tenant_ids),
    )


# -- how far history goes (the executions list) ----------------------------------------------


@dataclass(frozen=True)
class HistoryKept:
    """One retention the executions list shows (executions/selectors.py HistoryRetention), and
    whose it is: ``tenants`` named, or None for every tenant without a retention of its own."""

    days: int  # 0: forever
    since: datetime | None
    tenants: list[str] | None


def history_kept(*, tenant_ids: list[str] | None, now: datetime) -> list[HistoryKept]:
    """How far the viewer's tenants' history goes: for a superuser (``tenant_ids`` None) each
    retention tenants have of their own, then the default for the rest; for staff, their
    tenants' retentions, the tenants named when they differ."""
    tenants = Tenant.objects.order_by("name", "pk")
    if tenant_ids is None:
        tenants = tenants.exclude(execution_retention_days=None)
    else:
        tenants = tenants.filter(pk__in=tenant_ids)
    by_days: dict[int, list[str]] = {}
    for tenant in tenants:
        by_days.setdefault(retention_days(tenant), []).append(str(tenant))
    groups: list[tuple[int, list[str] | None]] = list(by_days.items())
    if tenant_ids is None:
        groups.append((settings.EXECUTION_RETENTION_DAYS, None))  # "every other tenant"
    elif len(groups) == 1:
        groups = [(groups[0][0], None)]  # one retention for all of them: no names needed
    return [
        HistoryKept(days, now - timedelta(days=days) if days else None, names)
        for days, names in groups
    ]


# -- a trigger's page ---------------------------------------------------------------------------


@dataclass
class Fire:
    """One entry of a trigger's timeline: an execution, or slots that did not run."""

    execution: Execution
    outcome: str  # fired, backfill, skipped, missed, cancelled, replay, test
    reason: str


def trigger_timeline(trigger: Trigger, *, length: int = TIMELINE_LENGTH) -> list[Fire]:
    """The trigger's latest firings, newest first, skipped and missed slots included with
    their reasons (the scheduler records them as cancelled executions)."""
    recent = (
        Execution.objects.filter(trigger=trigger)
        .order_by("-created_at", "-id")
        .only(
            "id", "execution_id", "execution_type", "status", "scheduled_for", "input_data",
            "error_message", "created_at", "started_at", "completed_at", "replay_of_id",
            "is_test", "is_backfill",
        )[:length]
    )  # fmt: skip
    return [Fire(execution, *fire_outcome(execution)) for execution in recent]


def fire_outcome(execution: Execution) -> tuple[str, str]:
    """(outcome, reason) of one execution as the timeline shows it."""
    data = execution.input_data if isinstance(execution.input_data, dict) else {}
    if execution.status == ExecutionStatus.CANCELLED:
        if "skipped_count" in data:
            return "missed", execution.error_message
        if execution.error_message.startswith("Not run:"):
            return "skipped", execution.error_message.removeprefix("Not run:").strip()
        return "cancelled", execution.error_message
    if execution.replay_of_id:
        return "replay", ""
    if execution.is_test:
        return "test", ""
    if execution.is_backfill:  # a past slot fired on purpose (executions/services/backfill.py)
        failed = execution.status == ExecutionStatus.FAILED
        return "backfill", execution.error_message if failed else ""
    return "fired", execution.error_message if execution.status == ExecutionStatus.FAILED else ""


def not_firing_reason(trigger: Trigger) -> str:
    """Why the trigger's slots and events do not fire now ("" while it is active)."""
    if trigger.status == TriggerStatus.ACTIVE:
        return ""
    label = TriggerStatus(trigger.status).label
    reason = trigger.pause_summary() or trigger.error_message
    return f"{label}: {reason}" if reason else f"{label}."


def upcoming_slots(trigger: Trigger, *, now: datetime, count: int = 5) -> list[datetime]:
    """The schedule's next ``count`` slots after ``now`` (none without a schedule); a
    jittered trigger runs each its offset later (its next_fire_at says when)."""
    if not trigger.cron_expression:
        return []
    try:
        return schedule.next_slots(trigger.cron_expression, trigger.timezone, now, count)
    except ValueError:
        return []


def schedule_in_words(trigger: Trigger) -> str:
    if not trigger.cron_expression:
        return ""
    return schedule.describe(trigger.cron_expression, trigger.timezone)
