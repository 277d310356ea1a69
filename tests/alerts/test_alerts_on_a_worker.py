"""Alerts end to end on a real Celery worker: executions that fail on the worker freeze their
trigger, the freeze's own pass opens one episode and every channel of the tenant (and the
operator's) hears it once — a webhook receiver that verifies the signature, a Slack-like one,
a real SMTP server — and another tenant's channel never; enabling the trigger sends one
recovery. A receiver that first answers 500 gets the alert again, later. And a worker of the
control queue notices a lost scheduler with no Beat running at all."""

import email
from datetime import timedelta

from django.utils import timezone

from alerts import services
from alerts.models import AlertEpisode, AlertNotification
from executions.heartbeats import SCHEDULER
from executions.models import ServiceHeartbeat
from executions.services import firing
from tests.alerts.conftest import SECRET
from triggers import services as trigger_services


def _all_sent(count: int):
    def check():
        statuses = list(AlertNotification.objects.values_list("status", flat=True))
        return len(statuses) == count and set(statuses) == {"sent"}

    return check


def test_five_failures_on_the_worker_make_one_alert_per_channel_and_one_recovery(
    start_worker, wait_for, receiver, smtp_sink, acme, globex, make_trigger, settings
):
    runtime = receiver(statuses=(500,))
    settings.EXECUTION_RUNNER = "http"  # the dispatch here routes as the worker runs
    settings.AGENT_RUNTIME_URL, settings.AGENT_RUNTIME_SIGNING_SECRET = runtime.url, SECRET
    settings.THROTTLE_RUN_NOW = "100/min"
    hook, slack, theirs, noc = (
        receiver(secret=SECRET), receiver(), receiver(secret=SECRET), receiver(),
    )  # fmt: skip
    make = services.channel_create
    make(tenant=acme, name="hook", kind="webhook", url=hook.url, secret=SECRET)
    make(tenant=acme, name="slack", kind="slack", url=slack.url)
    make(tenant=acme, name="mail", kind="email", email_to=["oncall@acme.test"])
    make(tenant=globex, name="globex", kind="webhook", url=theirs.url, secret=SECRET)
    make(tenant=None, name="noc", kind="slack", url=noc.url)
    start_worker(
        EXECUTION_RUNNER="http", AGENT_RUNTIME_URL=runtime.url,
        AGENT_RUNTIME_SIGNING_SECRET=SECRET, TRIGGER_FAILURE_THRESHOLD="5",
        ALLOW_PRIVATE_OUTBOUND="1", EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_sink.port),
        ALERTS_FROM_EMAIL="alerts@triggers.example.test",
    )  # fmt: skip
    trigger = make_trigger(acme, name="Digest", max_retries=0)

    for attempt in range(1, 6):
        firing.execution_run_now(trigger=trigger)
        wait_for(lambda n=attempt: len(runtime.requests) >= n, message=f"run {attempt} not sent")

    wait_for(lambda: AlertEpisode.objects.exists(), message="no episode opened")
    wait_for(_all_sent(4), message="the opening was not sent to the four channels")
    trigger.refresh_from_db()
    assert trigger.status == "failed" and len(runtime.requests) == 5
    [opened] = hook.verified
    assert (opened["type"], opened["event"]) == ("alert.opened", "trigger_failed")
    assert "Frozen after 5 consecutive failed executions" in opened["summary"]
    assert "The agent runtime answered 500" in opened["summary"]
    link = f"https://triggers.example.test/admin/triggers/trigger/{trigger.pk}/change/"
    assert opened["url"] == link
    assert "Trigger frozen as failed: Digest" in slack.bodies()[0]["text"]
    assert len(noc.bodies()) == 1
    [envelope] = smtp_sink.messages
    assert envelope.rcpt_tos == ["oncall@acme.test"]
    assert link in email.message_from_bytes(envelope.content).get_payload(decode=True).decode()

    trigger_services.trigger_enable(trigger=trigger)

    wait_for(_all_sent(8), message="the recovery was not sent to the four channels")
    assert [body["type"] for body in hook.verified] == ["alert.opened", "alert.closed"]
    assert hook.verified[1]["close_summary"] == "Recovered: the trigger is active again."
    assert "Resolved: Trigger frozen as failed" in slack.bodies()[1]["text"]
    assert len(noc.bodies()) == 2 and len(smtp_sink.messages) == 2
    assert theirs.requests == []  # globex's channel never heard of acme's trigger
    assert AlertEpisode.objects.get().closed_at is not None


def test_a_receiver_that_answers_500_gets_the_alert_again(
    start_worker, wait_for, receiver, acme, make_trigger
):
    flaky = receiver(statuses=(500, 200), secret=SECRET)
    services.channel_create(tenant=acme, name="hook", kind="webhook", url=flaky.url, secret=SECRET)
    start_worker(ALLOW_PRIVATE_OUTBOUND="1", ALERTS_SEND_RETRY_BASE_SECONDS="1")
    trigger = make_trigger(acme, name="Digest")

    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())

    wait_for(_all_sent(1), message="the alert was not delivered after the 500")
    first, second = flaky.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert [body["type"] for body in flaky.verified] == ["alert.opened", "alert.opened"]
    notification = AlertNotification.objects.get()
    assert notification.attempts == 2 and notification.last_error == ""


def test_a_control_worker_notices_a_lost_scheduler_with_no_beat_running(
    start_worker, wait_for, receiver, settings
):
    noc = receiver()
    services.channel_create(tenant=None, name="noc", kind="slack", url=noc.url)
    now = timezone.now()
    ServiceHeartbeat.objects.create(
        service=SCHEDULER, instance="beat:gone", started_at=now - timedelta(hours=1),
        beat_at=now - timedelta(minutes=10),
    )  # fmt: skip

    start_worker(ALERTS_CHECK_INTERVAL_SECONDS="1")

    wait_for(lambda: noc.requests, message="no scheduler_lost alert without Beat")
    assert "Scheduler heartbeat lost" in noc.bodies()[0]["text"]
    assert AlertEpisode.objects.get().event == "scheduler_lost"
