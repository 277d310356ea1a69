"""Sending a notification through each kind of channel, against real receivers: a webhook
receiver that verifies the Standard Webhooks signature, a Slack-like incoming webhook, an SMTP
server; retries and their end; the outbound guard."""

import email

import pytest
from django.utils import timezone

from alerts import services
from alerts.choices import AlertEvent, NotificationPhase, NotificationStatus
from alerts.models import AlertEpisode, AlertNotification
from tests.alerts.conftest import SECRET
from triggers import services as trigger_services


@pytest.fixture
def private_allowed(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True  # the receivers listen on 127.0.0.1


@pytest.fixture
def frozen(acme, make_trigger):
    """acme's trigger "Digest", frozen as failed; ``frozen()`` runs the detection pass."""
    trigger = make_trigger(acme, name="Digest")
    trigger_services.trigger_freeze(
        trigger_id=trigger.pk,
        reason="Frozen after 5 consecutive failed executions: runtime down",
        at=timezone.now(),
    )

    def detect() -> AlertEpisode:
        services.alerts_detect(events=[AlertEvent.TRIGGER_FAILED])
        return AlertEpisode.objects.get(subject=f"trigger:{trigger.pk}")

    detect.trigger = trigger
    detect.link = f"https://triggers.example.test/admin/triggers/trigger/{trigger.pk}/change/"
    return detect


def _only_notification(channel) -> AlertNotification:
    return AlertNotification.objects.get(channel=channel)


def test_a_webhook_alert_is_signed_with_standard_webhooks(acme, frozen, receiver, private_allowed):
    hook = receiver(secret=SECRET)
    channel = services.channel_create(
        tenant=acme, name="ops hook", kind="webhook", url=hook.url, secret=SECRET
    )
    episode = frozen()

    assert services.notification_deliver(notification_id=_only_notification(channel).pk) is None

    [body] = hook.verified  # Webhook(SECRET).verify passed on the receiver's side
    assert body["type"] == "alert.opened" and body["event"] == "trigger_failed"
    assert body["episode_id"] == episode.pk and body["tenant_id"] == "acme"
    assert body["url"] == frozen.link
    assert "runtime down" in body["summary"]
    headers = hook.requests[0]["headers"]
    assert headers["webhook-id"] == f"alert_{_only_notification(channel).pk}"
    assert headers["webhook-signature"].startswith("v1,")
    sent = _only_notification(channel)
    assert (sent.status, sent.attempts, sent.sent_at is not None) == ("sent", 1, True)


def test_a_wrong_secret_fails_the_receivers_check(acme, frozen, receiver, private_allowed):
    hook = receiver(secret=SECRET)
    other = services.new_secret()
    channel = services.channel_create(
        tenant=acme, name="ops hook", kind="webhook", url=hook.url, secret=other
    )
    frozen()

    delay = services.notification_deliver(notification_id=_only_notification(channel).pk)

    assert hook.verified == [] and len(hook.requests) == 1
    assert delay is not None  # a 401 is retried like any refusal
    assert "Answered 401" in _only_notification(channel).last_error


def test_a_slack_alert_is_text_with_the_admin_link(acme, frozen, receiver, private_allowed):
    slack = receiver()
    channel = services.channel_create(tenant=acme, name="#ops", kind="slack", url=slack.url)
    frozen()

    services.notification_deliver(notification_id=_only_notification(channel).pk)

    [body] = slack.bodies()
    assert set(body) == {"text"}
    assert f"Trigger frozen as failed: Digest (#{frozen.trigger.pk}, acme)" in body["text"]
    assert f"<{frozen.link}|Open in the admin>" in body["text"]
    assert _only_notification(channel).status == NotificationStatus.SENT


def test_an_email_alert_reaches_a_real_smtp_server(acme, frozen, smtp_settings):
    channel = services.channel_create(
        tenant=acme, name="on call", kind="email", email_to=["oncall@acme.test", "cto@acme.test"]
    )
    frozen()

    services.notification_deliver(notification_id=_only_notification(channel).pk)

    [envelope] = smtp_settings.messages
    assert envelope.mail_from == "alerts@triggers.example.test"
    assert sorted(envelope.rcpt_tos) == ["cto@acme.test", "oncall@acme.test"]
    message = email.message_from_bytes(envelope.content)
    assert "Trigger frozen as failed: Digest" in message["Subject"]
    text = message.get_payload(decode=True).decode()
    assert frozen.link in text
    assert _only_notification(channel).status == NotificationStatus.SENT


def test_an_unreachable_mail_server_is_retried(acme, frozen, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    channel = services.channel_create(
        tenant=acme, name="mail", kind="email", email_to=["oncall@acme.test"]
    )
    frozen()

    delay = services.notification_deliver(notification_id=_only_notification(channel).pk)

    assert delay == settings.ALERTS_SEND_RETRY_BASE_SECONDS
    failed = _only_notification(channel)
    assert failed.status == NotificationStatus.PENDING and "mail server" in failed.last_error


def test_failures_back_off_and_end_after_the_last_retry(
    acme, frozen, receiver, settings, private_allowed
):
    settings.ALERTS_SEND_MAX_RETRIES = 2
    settings.ALERTS_SEND_RETRY_BASE_SECONDS = 10
    down = receiver(statuses=(500,))
    channel = services.channel_create(tenant=acme, name="#ops", kind="slack", url=down.url)
    frozen()
    notification_id = _only_notification(channel).pk

    delays = [services.notification_deliver(notification_id=notification_id) for _ in range(3)]

    assert delays == [10, 20, None]
    assert len(down.requests) == 3
    failed = _only_notification(channel)
    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 3)
    assert "Answered 500" in failed.last_error
    # Failed for good: a late message sends nothing more.
    assert services.notification_deliver(notification_id=notification_id) is None
    assert len(down.requests) == 3


def test_a_sent_notification_is_not_sent_twice(acme, frozen, receiver, private_allowed):
    slack = receiver()
    channel = services.channel_create(tenant=acme, name="#ops", kind="slack", url=slack.url)
    frozen()
    notification_id = _only_notification(channel).pk

    services.notification_deliver(notification_id=notification_id)
    services.notification_deliver(notification_id=notification_id)  # a second message

    assert len(slack.requests) == 1


def test_the_guard_refuses_a_tenants_private_url_for_good(acme, frozen, receiver, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    inside = receiver()
    channel = services.channel_create(tenant=acme, name="#ops", kind="slack", url=inside.url)
    frozen()

    delay = services.notification_deliver(notification_id=_only_notification(channel).pk)

    assert delay is None and inside.requests == []
    refused = _only_notification(channel)
    assert refused.status == NotificationStatus.FAILED
    assert "private or reserved address" in refused.last_error


def test_the_operators_own_channel_is_not_guarded(acme, frozen, receiver, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    inside = receiver()
    channel = services.channel_create(tenant=None, name="noc", kind="slack", url=inside.url)
    frozen()

    services.notification_deliver(notification_id=_only_notification(channel).pk)

    assert len(inside.requests) == 1
    assert _only_notification(channel).status == NotificationStatus.SENT


def test_a_test_message_is_sent_at_once_and_recorded(acme, receiver, private_allowed):
    hook = receiver(secret=SECRET)
    channel = services.channel_create(
        tenant=acme, name="ops hook", kind="webhook", url=hook.url, secret=SECRET
    )

    notification = services.channel_send_test(channel=channel)

    assert notification.status == NotificationStatus.SENT
    assert notification.phase == NotificationPhase.TEST and notification.episode is None
    [body] = hook.verified
    assert body["type"] == "alert.test" and body["channel"] == "ops hook"
    assert body["url"].endswith(f"/admin/alerts/alertchannel/{channel.pk}/change/")
    assert not AlertEpisode.objects.exists()


def test_a_channel_disabled_before_the_send_is_not_called(acme, frozen, receiver, private_allowed):
    slack = receiver()
    channel = services.channel_create(tenant=acme, name="#ops", kind="slack", url=slack.url)
    frozen()
    services.channel_update(channel=channel, enabled=False)

    assert services.notification_deliver(notification_id=_only_notification(channel).pk) is None

    assert slack.requests == []
    skipped = _only_notification(channel)
    assert (skipped.status, skipped.last_error) == ("failed", "Not sent: the channel was disabled.")
