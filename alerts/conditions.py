"""What is wrong now: each event's condition, read from the tables of the apps it watches.

Each reader returns the conditions that hold at ``now``, one per subject; the detection pass
(alerts.services.alerts_detect) opens an episode for a condition that has none and closes an
open episode whose condition no longer holds. Reads only: no table is written here.

- ``trigger_failed``: a trigger whose status is ``failed`` (frozen after its failure streak:
  executions/services/lifecycle.py, polling/services/polls.py).
- ``poll_stale``: an active polling trigger whose last ALERTS_POLL_STALE_FAILURES polls
  failed, or whose poll is overdue by ALERTS_POLL_OVERDUE_SECONDS (nobody polls it).
- ``watch_stale``: a file_system trigger the watcher made stale (its folder is gone or
  cannot be watched: docs/watcher.md).
- ``executions_waiting``: a tenant with a pending execution that could have started
  ALERTS_WAITING_SECONDS ago and has not.
- ``scheduler_lost``, ``watcher_lost``: the newest heartbeat of Beat's scheduler (of the
  watcher, while there are active file_system triggers) older than
  ALERTS_SCHEDULER_MAX_AGE_SECONDS (ALERTS_WATCHER_MAX_AGE_SECONDS). A service that never
  beat is not "lost": /readyz and the dashboard show it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.urls import reverse

from alerts.choices import AlertEvent
from executions import heartbeats
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.selectors import executions_with_status
from polling.models import PollingState
from triggers.choices import TriggerStatus
from triggers.models import Trigger

FILE_SYSTEM = ("builtin", "file_system")
WATCHER = "watcher"


@dataclass(frozen=True)
class Condition:
    event: str
    subject: str
    tenant_id: str | None
    label: str
    admin_path: str
    summary: str


TRIGGER_SUBJECT_PREFIX = "trigger:"


def trigger_subject(trigger_id: int) -> str:
    return f"{TRIGGER_SUBJECT_PREFIX}{trigger_id}"


def subject_trigger_id(subject: str) -> int | None:
    """The trigger's id of a trigger subject (``trigger:42`` → 42); None for any other."""
    if subject.startswith(TRIGGER_SUBJECT_PREFIX):
        return int(subject.removeprefix(TRIGGER_SUBJECT_PREFIX))
    return None


def trigger_admin_path(trigger_id: int) -> str:
    return reverse("admin:triggers_trigger_change", args=[trigger_id])


def _trigger_condition(event: str, trigger: Trigger, summary: str) -> Condition:
    return Condition(
        event=event,
        subject=trigger_subject(trigger.pk),
        tenant_id=trigger.tenant_id,
        label=f"{trigger.name} (#{trigger.pk}, {trigger.tenant_id})",
        admin_path=trigger_admin_path(trigger.pk),
        summary=summary,
    )


def _only(triggers, trigger_ids: Iterable[int] | None, field: str = "pk"):
    return triggers if trigger_ids is None else triggers.filter(**{f"{field}__in": trigger_ids})


def failed_triggers(*, now: datetime, trigger_ids: Iterable[int] | None = None) -> list[Condition]:
    triggers = _only(Trigger.objects.filter(status=TriggerStatus.FAILED), trigger_ids)
    return [
        _trigger_condition(
            AlertEvent.TRIGGER_FAILED,
            trigger,
            trigger.error_message or "Frozen after repeated failures.",
        )
        for trigger in triggers.only("id", "tenant_id", "name", "error_message")
    ]


def stale_polls(*, now: datetime, trigger_ids: Iterable[int] | None = None) -> list[Condition]:
    failing = Q(failures__gte=settings.ALERTS_POLL_STALE_FAILURES)
    overdue = Q(next_poll_at__lt=now - timedelta(seconds=settings.ALERTS_POLL_OVERDUE_SECONDS))
    states = (
        PollingState.objects.filter(failing | overdue, trigger__status=TriggerStatus.ACTIVE)
        .select_related("trigger")
        .only(
            "trigger_id", "failures", "next_poll_at", "last_result",
            "trigger__id", "trigger__tenant_id", "trigger__name",
        )
    )  # fmt: skip
    found = []
    for state in _only(states, trigger_ids, "trigger_id"):
        if state.failures >= settings.ALERTS_POLL_STALE_FAILURES:
            summary = f"The last {state.failures} polls failed: {state.last_result}"
        else:
            summary = f"Its poll is overdue since {state.next_poll_at:%Y-%m-%d %H:%M:%S} UTC."
        found.append(_trigger_condition(AlertEvent.POLL_STALE, state.trigger, summary))
    return found


def stale_watches(*, now: datetime, trigger_ids: Iterable[int] | None = None) -> list[Condition]:
    triggers = Trigger.objects.filter(
        provider_id=FILE_SYSTEM[0], provider_trigger_id=FILE_SYSTEM[1], status=TriggerStatus.STALE
    )
    return [
        _trigger_condition(
            AlertEvent.WATCH_STALE, trigger, trigger.error_message or "The folder went stale."
        )
        for trigger in _only(triggers, trigger_ids).only("id", "tenant_id", "name", "error_message")
    ]


def waiting_executions(*, now: datetime, trigger_ids=None) -> list[Condition]:
    """Per tenant, from the partial index on pending executions' ``available_at``: only the
    ones waiting longer than the threshold are read."""
    cutoff = now - timedelta(seconds=settings.ALERTS_WAITING_SECONDS)
    waiting = (
        executions_with_status(Execution.objects.all(), [ExecutionStatus.PENDING])
        .filter(available_at__lt=cutoff)
        .values("tenant_id")
        .annotate(count=Count("*"), oldest=Min("available_at"))
        .order_by("tenant_id")
    )
    path = reverse("admin:executions_execution_changelist")
    return [
        Condition(
            event=AlertEvent.EXECUTIONS_WAITING,
            subject=f"tenant:{row['tenant_id']}",
            tenant_id=row["tenant_id"],
            label=f"Executions of {row['tenant_id']}",
            admin_path=f"{path}?status__exact=pending&tenant__id__exact={row['tenant_id']}",
            summary=(
                f"{row['count']} executions have waited more than "
                f"{settings.ALERTS_WAITING_SECONDS} s to start; the oldest could run since "
                f"{row['oldest']:%Y-%m-%d %H:%M:%S} UTC."
            ),
        )
        for row in waiting
    ]


def _lost(event: str, service: str, max_age: int, now: datetime) -> list[Condition]:
    beat_at = heartbeats.latest_beat_at(service)
    if beat_at is None or now - beat_at <= timedelta(seconds=max_age):
        return []
    silent = int((now - beat_at).total_seconds())
    return [
        Condition(
            event=event,
            subject=f"service:{service}",
            tenant_id=None,
            label=f"The {service}",
            admin_path=reverse("admin:index"),
            summary=(
                f"No heartbeat from the {service} for {silent} s (since "
                f"{beat_at:%Y-%m-%d %H:%M:%S} UTC)."
            ),
        )
    ]


def lost_scheduler(*, now: datetime, trigger_ids=None) -> list[Condition]:
    return _lost(
        AlertEvent.SCHEDULER_LOST,
        heartbeats.SCHEDULER,
        settings.ALERTS_SCHEDULER_MAX_AGE_SECONDS,
        now,
    )


def lost_watcher(*, now: datetime, trigger_ids=None) -> list[Condition]:
    watched = Trigger.objects.filter(
        provider_id=FILE_SYSTEM[0], provider_trigger_id=FILE_SYSTEM[1], status=TriggerStatus.ACTIVE
    )
    if not watched.exists():  # nothing to watch: a stopped watcher is no loss
        return []
    return _lost(AlertEvent.WATCHER_LOST, WATCHER, settings.ALERTS_WATCHER_MAX_AGE_SECONDS, now)


READERS: dict[str, Callable[..., list[Condition]]] = {
    AlertEvent.TRIGGER_FAILED: failed_triggers,
    AlertEvent.POLL_STALE: stale_polls,
    AlertEvent.WATCH_STALE: stale_watches,
    AlertEvent.EXECUTIONS_WAITING: waiting_executions,
    AlertEvent.SCHEDULER_LOST: lost_scheduler,
    AlertEvent.WATCHER_LOST: lost_watcher,
}
# The events whose subject is one trigger: a pass about some triggers reads only these.
TRIGGER_EVENTS = (AlertEvent.TRIGGER_FAILED, AlertEvent.POLL_STALE, AlertEvent.WATCH_STALE)


_RECOVERED = {
    AlertEvent.TRIGGER_FAILED: "Recovered: the trigger is active again.",
    AlertEvent.POLL_STALE: "Recovered: its polls succeed again.",
    AlertEvent.WATCH_STALE: "Recovered: the folder is watched again.",
    AlertEvent.EXECUTIONS_WAITING: "Recovered: no execution has waited that long any more.",
    AlertEvent.SCHEDULER_LOST: "Recovered: the scheduler beats again.",
    AlertEvent.WATCHER_LOST: "Recovered: the watcher beats again, or nothing is left to watch.",
}


def close_summaries(episodes: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Why each (event, subject) episode closes: recovered, or for a trigger subject that is
    not active now, its status, or that it is gone."""
    trigger_ids = {subject: subject_trigger_id(subject) for _, subject in episodes}
    ids = [pk for pk in trigger_ids.values() if pk is not None]
    statuses = dict(Trigger.objects.filter(pk__in=ids).values_list("pk", "status"))
    found = {}
    for event, subject in episodes:
        trigger_id = trigger_ids[subject]
        status = statuses.get(trigger_id)
        if trigger_id is not None and status is None:
            found[event, subject] = "Closed: the trigger was deleted."
        elif status is not None and status != TriggerStatus.ACTIVE:
            found[event, subject] = f"Closed: the trigger is {status} now."
        else:
            found[event, subject] = _RECOVERED[event]
    return found
