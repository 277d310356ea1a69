"""Heartbeats of the background services: one row per process (ServiceHeartbeat), upserted
at most once a second however often the process loops, so a Beat that ticks every few
milliseconds under load costs one small write a second. A process's row is replaced, not
appended to; rows of processes silent for HEARTBEAT_RETENTION are removed when a process
starts beating."""

import os
import socket
import time
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from executions.models import ServiceHeartbeat

SCHEDULER = "scheduler"  # Beat's service name: the dashboard, /metrics and /readyz read it

HEARTBEAT_EVERY_SECONDS = 1.0
HEARTBEAT_RETENTION = timedelta(days=1)

_last_beat: dict[tuple[str, int], float] = {}
# Close to the process's start: services import this module while they start up.
_imported_at = datetime.now(tz=UTC)


def heartbeat(service: str, details: dict | None = None, *, force: bool = False) -> bool:
    """Record that this process of ``service`` is alive (with ``details`` of its last pass);
    at most once per HEARTBEAT_EVERY_SECONDS unless ``force``. True when written."""
    key = (service, os.getpid())
    now = time.monotonic()
    last = _last_beat.get(key)
    if not force and last is not None and now - last < HEARTBEAT_EVERY_SECONDS:
        return False
    moment = timezone.now()
    if last is None:  # this process's first beat: forget processes long gone
        ServiceHeartbeat.objects.filter(
            service=service, beat_at__lt=moment - HEARTBEAT_RETENTION
        ).delete()
    ServiceHeartbeat.objects.bulk_create(
        [
            ServiceHeartbeat(
                service=service,
                instance=_instance(),
                started_at=_imported_at,
                beat_at=moment,
                details=details or {},
            )
        ],
        update_conflicts=True,
        unique_fields=["service", "instance"],
        update_fields=["beat_at", "details"],
    )
    _last_beat[key] = now
    return True


def heartbeats(service: str) -> QuerySet[ServiceHeartbeat]:
    """The service's processes, the most recently heard first."""
    return ServiceHeartbeat.objects.filter(service=service).order_by("-beat_at")


def latest_beat_at(service: str) -> datetime | None:
    beat = heartbeats(service).only("beat_at").first()
    return beat.beat_at if beat else None


def _instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
