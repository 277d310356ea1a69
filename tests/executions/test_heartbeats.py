"""Heartbeats: one row per process, written at most once a second, old processes forgotten."""

from datetime import timedelta

import pytest
from django.utils import timezone

from executions import heartbeats
from executions.models import ServiceHeartbeat


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    monkeypatch.setattr(heartbeats, "_last_beat", {})


def test_a_process_has_one_row_that_each_beat_moves_forward(db):
    assert heartbeats.heartbeat("scheduler", {"fired": 1}) is True
    first = ServiceHeartbeat.objects.get()

    assert heartbeats.heartbeat("scheduler", {"fired": 2}) is False  # within the second
    assert heartbeats.heartbeat("scheduler", {"fired": 3}, force=True) is True

    beat = ServiceHeartbeat.objects.get()
    assert beat.pk == first.pk and beat.created_at == first.created_at
    assert beat.beat_at > first.beat_at and beat.details == {"fired": 3}
    assert beat.started_at <= beat.created_at
    assert heartbeats.latest_beat_at("scheduler") == beat.beat_at
    assert heartbeats.latest_beat_at("watcher") is None


def test_a_process_starting_to_beat_forgets_processes_silent_for_a_day(db):
    long_ago = timezone.now() - timedelta(days=2)
    ServiceHeartbeat.objects.create(
        service="scheduler", instance="gone:1", started_at=long_ago, beat_at=long_ago
    )
    ServiceHeartbeat.objects.create(
        service="watcher", instance="gone:2", started_at=long_ago, beat_at=long_ago
    )

    heartbeats.heartbeat("scheduler")

    assert sorted(ServiceHeartbeat.objects.values_list("instance", flat=True)) == sorted(
        ["gone:2", heartbeats._instance()]
    )
