"""The detection pass: each event's condition opens one episode and its end closes it; which
channels hear it (the tenant's and the operator's, never another tenant's); one alert per
episode however many failures or passes saw it."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import services
from alerts.choices import AlertEvent, NotificationPhase
from alerts.models import AlertEpisode, AlertNotification
from executions.heartbeats import SCHEDULER
from executions.models import ServiceHeartbeat
from executions.services import firing, lifecycle
from polling.models import PollingState
from providers.services import project_trigger_create
from tests.conftest import BrokerQueues, purge_test_queue
from triggers import services as trigger_services


@pytest.fixture
def channels(acme, globex):
    """A Slack channel of acme, of globex, and the operator's, each hearing every event its
    scope may hear (the URLs are never called here)."""
    make = services.channel_create
    return {
        "acme": make(tenant=acme, name="acme", kind="slack", url="https://hooks.example.test/a"),
        "globex": make(
            tenant=globex, name="globex", kind="slack", url="https://hooks.example.test/g"
        ),
        "operator": make(tenant=None, name="noc", kind="slack", url="https://noc.example.test"),
    }


def _told(phase: str) -> set[str]:
    return set(
        AlertNotification.objects.filter(phase=phase).values_list("channel__name", flat=True)
    )


def _fail(trigger, times: int) -> None:
    for attempt in range(times):
        execution = firing.execution_run_now(trigger=trigger).execution
        lifecycle.execution_start(execution_id=execution.execution_id, worker_id="w1")
        execution.refresh_from_db()
        lifecycle.execution_attempt_failed(execution=execution, error_message=f"down {attempt}")


@pytest.fixture
def failing_trigger(acme, make_trigger, settings):
    settings.TRIGGER_FAILURE_THRESHOLD = 5
    trigger = make_trigger(acme, name="Digest", max_retries=0)
    return trigger


def test_five_failures_make_one_alert_and_enabling_one_recovery(
    channels, failing_trigger, settings
):
    settings.THROTTLE_RUN_NOW = "100/min"
    for _ in range(4):
        _fail(failing_trigger, 1)
        services.alerts_detect()
    assert not AlertEpisode.objects.exists()  # four failures freeze nothing

    _fail(failing_trigger, 1)
    services.alerts_detect()
    services.alerts_detect()  # a second pass sees the same episode

    episode = AlertEpisode.objects.get()
    assert (episode.event, episode.subject) == ("trigger_failed", f"trigger:{failing_trigger.pk}")
    assert episode.tenant_id == "acme" and episode.closed_at is None
    assert "Frozen after 5 consecutive failed executions" in episode.summary
    assert episode.admin_path == f"/admin/triggers/trigger/{failing_trigger.pk}/change/"
    assert _told(NotificationPhase.OPENED) == {"acme", "noc"}  # never globex
    assert AlertNotification.objects.count() == 2

    trigger_services.trigger_enable(trigger=failing_trigger)
    services.alerts_detect()
    services.alerts_detect()

    episode.refresh_from_db()
    assert episode.closed_at is not None
    assert episode.close_summary == "Recovered: the trigger is active again."
    assert _told(NotificationPhase.CLOSED) == {"acme", "noc"}
    assert AlertNotification.objects.count() == 4


def test_a_failure_after_recovery_is_a_new_episode(channels, failing_trigger, settings):
    settings.THROTTLE_RUN_NOW = "100/min"
    _fail(failing_trigger, 5)
    services.alerts_detect()
    trigger_services.trigger_enable(trigger=failing_trigger)
    services.alerts_detect()
    _fail(failing_trigger, 5)
    services.alerts_detect()

    assert AlertEpisode.objects.filter(closed_at__isnull=True).count() == 1
    assert AlertEpisode.objects.count() == 2


def test_a_deleted_trigger_closes_its_episode(channels, acme, make_trigger):
    trigger = make_trigger(acme)
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())
    services.alerts_detect()
    trigger_services.trigger_delete(trigger=trigger)

    report = services.alerts_detect()

    episode = AlertEpisode.objects.get()
    assert report.closed == [episode.pk]
    assert episode.close_summary == "Closed: the trigger was deleted."


def test_channels_hear_only_their_events_and_only_when_enabled(acme, make_trigger):
    url = "https://hooks.example.test/a"
    services.channel_create(
        tenant=acme, name="waits", kind="slack", url=url, events=["executions_waiting"]
    )
    services.channel_create(tenant=acme, name="off", kind="slack", url=url, enabled=False)
    services.channel_create(tenant=acme, name="fails", kind="slack", url=url)
    trigger = make_trigger(acme)
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())

    services.alerts_detect()

    assert _told(NotificationPhase.OPENED) == {"fails"}


def test_a_recovery_goes_only_to_the_channels_that_heard_the_failure(acme, make_trigger):
    url = "https://hooks.example.test/a"
    trigger = make_trigger(acme)
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())
    services.channel_create(tenant=acme, name="early", kind="slack", url=url)
    services.alerts_detect()
    services.channel_create(tenant=acme, name="late", kind="slack", url=url)
    trigger_services.trigger_enable(trigger=trigger)

    services.alerts_detect()

    assert _told(NotificationPhase.CLOSED) == {"early"}


@pytest.fixture
def polling_trigger(acme_project, alice):
    trigger, _ = project_trigger_create(
        project=acme_project, provider_id="rss", trigger_id="on_new_item",
        trigger_config={"url": "https://feeds.example.test/rss"}, connection_id=None,
        user=alice,
    )  # fmt: skip
    return trigger_services.trigger_enable(trigger=trigger)


def test_a_poll_that_keeps_failing_is_stale_until_it_succeeds(channels, polling_trigger):
    state = PollingState.objects.filter(trigger_id=polling_trigger.pk)
    state.update(failures=2, last_result="503 from the feed")
    services.alerts_detect()
    assert not AlertEpisode.objects.exists()

    state.update(failures=3)
    services.alerts_detect()
    episode = AlertEpisode.objects.get(event=AlertEvent.POLL_STALE)
    assert "The last 3 polls failed: 503 from the feed" in episode.summary
    assert _told(NotificationPhase.OPENED) == {"acme", "noc"}

    state.update(failures=0)
    services.alerts_detect()
    episode.refresh_from_db()
    assert episode.close_summary == "Recovered: its polls succeed again."


def test_an_overdue_poll_is_stale(channels, polling_trigger, settings):
    settings.ALERTS_POLL_OVERDUE_SECONDS = 600
    PollingState.objects.filter(trigger_id=polling_trigger.pk).update(
        next_poll_at=timezone.now() - timedelta(seconds=601)
    )

    services.alerts_detect()

    assert "overdue" in AlertEpisode.objects.get(event=AlertEvent.POLL_STALE).summary


def test_a_watched_folder_gone_stale(channels, acme, make_trigger, watch_root):
    trigger = make_trigger(acme, "file_system", config={"watch_path": str(watch_root / "in")})
    reason = "The watched folder '/in' does not exist or is not a directory."
    trigger_services.triggers_mark_stale(
        triggers=type(trigger).objects.filter(pk=trigger.pk), reason=reason
    )

    services.alerts_detect()

    episode = AlertEpisode.objects.get(event=AlertEvent.WATCH_STALE)
    assert episode.summary == reason and episode.tenant_id == "acme"


def test_executions_waiting_too_long_are_one_episode_per_tenant(
    channels, acme, globex, make_trigger, settings
):
    settings.ALERTS_WAITING_SECONDS = 600
    old = timezone.now() - timedelta(seconds=601)
    for tenant in (acme, acme, globex):
        execution = firing.execution_create_test(trigger=make_trigger(tenant))
        type(execution).objects.filter(pk=execution.pk).update(available_at=old)
    fresh = firing.execution_create_test(trigger=make_trigger(acme))

    services.alerts_detect()

    episodes = {e.subject: e for e in AlertEpisode.objects.filter(event="executions_waiting")}
    assert set(episodes) == {"tenant:acme", "tenant:globex"}
    assert episodes["tenant:acme"].summary.startswith("2 executions have waited more than 600 s")
    assert "tenant__id__exact=acme" in episodes["tenant:acme"].admin_path
    told = AlertNotification.objects.filter(episode=episodes["tenant:globex"])
    assert {n.channel.name for n in told} == {"globex", "noc"}

    type(fresh).objects.filter(status="pending").update(status="cancelled")
    services.alerts_detect()
    assert not AlertEpisode.objects.filter(closed_at__isnull=True).exists()


def test_the_schedulers_lost_heartbeat_is_the_operators_alone(channels, settings):
    settings.ALERTS_SCHEDULER_MAX_AGE_SECONDS = 120
    now = timezone.now()
    beat = ServiceHeartbeat.objects.create(
        service=SCHEDULER, instance="beat:1", started_at=now - timedelta(hours=1),
        beat_at=now - timedelta(seconds=121),
    )  # fmt: skip

    services.alerts_detect(now=now)

    episode = AlertEpisode.objects.get()
    assert (episode.event, episode.tenant_id, episode.subject) == (
        "scheduler_lost", None, "service:scheduler",
    )  # fmt: skip
    assert episode.summary.startswith("No heartbeat from the scheduler for 121 s")
    assert _told(NotificationPhase.OPENED) == {"noc"}

    ServiceHeartbeat.objects.filter(pk=beat.pk).update(beat_at=now)
    services.alerts_detect(now=now)
    episode.refresh_from_db()
    assert episode.close_summary == "Recovered: the scheduler beats again."


def test_a_scheduler_that_never_beat_is_not_lost(channels):
    services.alerts_detect()
    assert not AlertEpisode.objects.exists()


def test_the_watcher_is_lost_only_while_there_are_folders_to_watch(
    channels, acme, make_trigger, watch_root
):
    now = timezone.now()
    ServiceHeartbeat.objects.create(
        service="watcher", instance="w:1", started_at=now, beat_at=now - timedelta(hours=1)
    )
    services.alerts_detect(now=now)
    assert not AlertEpisode.objects.exists()

    make_trigger(acme, "file_system", config={"watch_path": str(watch_root / "in")})
    services.alerts_detect(now=now)

    assert AlertEpisode.objects.get().event == AlertEvent.WATCHER_LOST


def test_a_pass_about_some_triggers_leaves_the_others(channels, acme, make_trigger):
    first, second = make_trigger(acme), make_trigger(acme)
    for trigger in (first, second):
        trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="F", at=timezone.now())

    services.alerts_detect(trigger_ids=[first.pk])

    assert list(AlertEpisode.objects.values_list("subject", flat=True)) == [f"trigger:{first.pk}"]


@pytest.mark.postgresql_only  # SQLite serializes the writers: there is no race to decide
def test_two_passes_at_once_open_one_episode(transactional_db, channels, acme, make_trigger, race):
    trigger = make_trigger(acme)
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="F", at=timezone.now())

    reports = race(lambda: services.alerts_detect(events=["trigger_failed"]), 4)

    assert sum(len(report.opened) for report in reports) == 1
    assert AlertEpisode.objects.count() == 1
    assert AlertNotification.objects.count() == 2  # acme's and the operator's, once each
    purge_test_queue()  # the send messages published after the commit


def test_a_freeze_publishes_its_own_pass_after_the_commit(
    acme, make_trigger, django_capture_on_commit_callbacks, settings
):
    trigger = make_trigger(acme)
    queues = BrokerQueues()
    queues.purge(settings.CELERY_CONTROL_QUEUE)
    with django_capture_on_commit_callbacks(execute=True):
        trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="F", at=timezone.now())

    [message] = queues.messages(settings.CELERY_CONTROL_QUEUE)
    queues.purge(settings.CELERY_CONTROL_QUEUE)
    assert message["headers"]["task"] == "alerts.tasks.detect_alerts"
    _args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert kwargs == {"trigger_ids": [trigger.pk]}
