"""Every write of the alerts tables: channels, the detection pass that opens and closes
episodes, and the delivery of their notifications (docs/ops-console.md, "Alerts").

One alert per episode: an episode is opened when a condition is first seen and closed when
it is gone (``alerts_detect``); the unique open episode per (event, subject) and the
conditional UPDATE that closes it decide between two passes at once, so each channel is told
once when an episode opens and once when it closes, however many failed executions or passes
saw it. A notification row is saved before its message is sent and updated with the result;
sending happens on a worker (ALERTS_QUEUE), after the commit, never inside the engine's
transactions.
"""

import base64
import binascii
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

import httpx
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.encryption import encrypt_secret
from accounts.models import Tenant
from alerts import conditions
from alerts.choices import (
    TENANT_EVENTS,
    AlertEvent,
    ChannelKind,
    NotificationPhase,
    NotificationStatus,
)
from alerts.messages import AlertFacts, compose
from alerts.models import AlertChannel, AlertEpisode, AlertNotification
from alerts.transports import SendFailed, deliver

logger = logging.getLogger(__name__)

# Named, not imported (alerts/tasks.py registers it): the tasks call these services.
SEND_NOTIFICATION_TASK = "alerts.tasks.send_notification"
URL_MAX_LENGTH = 2000
SECRET_PREFIX = "whsec_"
# A message not sent this long after it was due lost its broker message: sent again.
LOST_AFTER = timedelta(minutes=5)
# Event order in a channel's default list and in documentation.
EVENT_ORDER = list(AlertEvent.values)


# -- channels ----------------------------------------------------------------------------------


def default_events(tenant: Tenant | None) -> list[str]:
    """A new channel's events when none are given: all its scope may hear."""
    allowed = TENANT_EVENTS if tenant is not None else set(AlertEvent.values)
    return [event for event in EVENT_ORDER if event in allowed]


def _url_preview(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"  # an IPv6 address
    if parts.port:
        shown += f":{parts.port}"
    return shown + ("/…" if (parts.path.strip("/") or parts.query) else "")


def _checked_url(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": "An http(s) URL."})
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise ValidationError({"url": f"At most {URL_MAX_LENGTH} characters."})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        httpx.URL(url)  # what the transport will send to (no spaces, no control characters)
    except (ValueError, httpx.InvalidURL):
        raise ValidationError({"url": "An http(s) URL with a host."}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "An http(s) URL with a host."})
    return url


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _checked_secret(secret) -> str:
    message = f"A Standard Webhooks secret: {SECRET_PREFIX} and 24 to 64 bytes in base64."
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValidationError({"secret": message})
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"secret": message}) from None
    if not 24 <= len(key) <= 64:
        raise ValidationError({"secret": message})
    return secret


def _checked_emails(addresses) -> list[str]:
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise ValidationError({"email_to": "A list of email addresses."})
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                {"email_to": f"'{address[:200]}' is not an email address."}
            ) from None
    return list(dict.fromkeys(address.strip() for address in addresses))


def _apply_target(channel: AlertChannel, *, email_to, url, secret) -> None:
    """Set the kind's own settings (checked); refuse another kind's."""
    kind = channel.kind
    if email_to is not None:
        if kind != ChannelKind.EMAIL:
            raise ValidationError({"email_to": "Only an email channel has addresses."})
        channel.email_to = _checked_emails(email_to)
    if url is not None:
        if kind not in (ChannelKind.SLACK, ChannelKind.WEBHOOK):
            raise ValidationError({"url": "Only a Slack or webhook channel has a URL."})
        url = _checked_url(url)
        channel.encrypted_url = encrypt_secret(url)
        channel.url_preview = _url_preview(url)[:300]
    if secret is not None:
        if kind != ChannelKind.WEBHOOK:
            raise ValidationError({"secret": "Only a webhook channel is signed."})
        channel.encrypted_secret = encrypt_secret(_checked_secret(secret))


def _prepared(
    channel: AlertChannel,
    *,
    name: str | None,
    events: list[str] | None,
    enabled: bool | None,
    email_to: list[str] | None,
    url: str | None,
    secret: str | None,
) -> AlertChannel:
    """``channel`` with the given values set (None: kept) and checked (full_clean); not
    saved."""
    if name is not None:
        channel.name = name
    if events is not None:
        channel.events = events
    if enabled is not None:
        channel.enabled = enabled
    if channel.kind in ChannelKind.values:
        _apply_target(channel, email_to=email_to, url=url, secret=secret)
    channel.full_clean()
    return channel


def _new_channel(*, tenant: Tenant | None, kind: str, created_by=None) -> AlertChannel:
    return AlertChannel(
        tenant=tenant, kind=kind, events=default_events(tenant), created_by=created_by
    )


def channel_check(
    *, channel: AlertChannel | None, tenant: Tenant | None, kind: str, **values
) -> None:
    """Raise the ValidationError that creating (``channel`` None) or updating ``channel``
    with these values would raise, keyed by field; writes nothing (the admin's form)."""
    if channel is None:
        checked = _new_channel(tenant=tenant, kind=kind)
        if kind == ChannelKind.WEBHOOK and values.get("secret") is None:
            values["secret"] = new_secret()
    else:
        checked = AlertChannel.objects.get(pk=channel.pk)
        checked.tenant = tenant if tenant is not None else checked.tenant
    _prepared(checked, **{name: values.get(name) for name in _VALUES})


_VALUES = ("name", "events", "enabled", "email_to", "url", "secret")


@transaction.atomic
def channel_create(
    *,
    tenant: Tenant | None,
    name: str,
    kind: str,
    events: list[str] | None = None,
    enabled: bool = True,
    email_to: list[str] | None = None,
    url: str | None = None,
    secret: str | None = None,
    created_by: AbstractBaseUser | None = None,
) -> AlertChannel:
    """A channel of ``tenant`` (None: the operator's, for every tenant); ``events`` default
    to all its scope may hear. A webhook channel made without a secret gets a new one, set
    on the returned object as ``new_secret`` (the only time it can be read)."""
    generated = None
    if kind == ChannelKind.WEBHOOK and secret is None:
        generated = secret = new_secret()
    channel = _prepared(
        _new_channel(tenant=tenant, kind=kind, created_by=created_by),
        name=name, events=events, enabled=enabled, email_to=email_to, url=url, secret=secret,
    )  # fmt: skip
    channel.save()
    channel.new_secret = generated
    return channel


@transaction.atomic
def channel_update(
    *,
    channel: AlertChannel,
    name: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
    email_to: list[str] | None = None,
    url: str | None = None,
    secret: str | None = None,
) -> AlertChannel:
    """Change what is given (None: kept). The kind is fixed: a channel of another kind is a
    new channel; so is the tenant: a channel of another tenant is a new channel."""
    _prepared(
        channel,
        name=name, events=events, enabled=enabled, email_to=email_to, url=url, secret=secret,
    )  # fmt: skip
    channel.save()
    channel.new_secret = None
    return channel


@transaction.atomic
def channel_delete(*, channel: AlertChannel) -> None:
    """Delete the channel and its notifications' records."""
    channel.delete()


def channel_send_test(*, channel: AlertChannel) -> AlertNotification:
    """Send a test message through ``channel`` now, once (no retries), and record it; the
    notification says whether it was ``sent`` or ``failed`` and why (``last_error``)."""
    notification = AlertNotification.objects.create(
        channel=channel, phase=NotificationPhase.TEST, attempts=1, sending_until=timezone.now()
    )
    _send(notification, channel, retries_left=False)
    return notification


# -- detection ---------------------------------------------------------------------------------


@dataclass
class DetectReport:
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    resent: int = 0


def alerts_detect(
    *,
    now: datetime | None = None,
    events: Iterable[str] | None = None,
    trigger_ids: Iterable[int] | None = None,
) -> DetectReport:
    """Open an episode for each condition that holds and has none, close each open episode
    whose condition is gone (conditions.py), and notify the channels of each. ``events``
    (default: all) limits the pass to those events; ``trigger_ids`` to the episodes of those
    triggers (a status change's own pass: receivers.py). Also sends again what lost its
    message (a full pass only)."""
    now = now or timezone.now()
    wanted = list(events) if events is not None else EVENT_ORDER
    if trigger_ids is not None:
        trigger_ids = list(trigger_ids)
        wanted = [event for event in wanted if event in conditions.TRIGGER_EVENTS]
    report = DetectReport()
    for event in wanted:
        found = {
            condition.subject: condition
            for condition in conditions.READERS[event](now=now, trigger_ids=trigger_ids)
        }
        open_episodes = AlertEpisode.objects.filter(event=event, closed_at__isnull=True)
        if trigger_ids is not None:
            open_episodes = open_episodes.filter(
                subject__in=[conditions.trigger_subject(pk) for pk in trigger_ids]
            )
        already = dict(open_episodes.values_list("subject", "pk"))
        for subject, condition in found.items():
            if subject not in already:
                episode = _episode_open(condition, now)
                if episode is not None:
                    report.opened.append(episode.pk)
        gone = [(event, subject) for subject in already if subject not in found]
        if gone:
            summaries = conditions.close_summaries(gone)
            for key in gone:
                if _episode_close(already[key[1]], summaries[key], now):
                    report.closed.append(already[key[1]])
    if events is None and trigger_ids is None:
        report.resent = notifications_resend_lost(now=now)
    return report


def _episode_open(condition: conditions.Condition, now: datetime) -> AlertEpisode | None:
    """The new episode, its channels told; None when another pass opened it first."""
    try:
        with transaction.atomic():
            episode = AlertEpisode.objects.create(
                tenant_id=condition.tenant_id,
                event=condition.event,
                subject=condition.subject,
                subject_label=condition.label[:300],
                admin_path=condition.admin_path[:500],
                summary=condition.summary,
                opened_at=now,
            )
            channels = [
                channel for channel in _listening(episode) if episode.event in channel.events
            ]
            _notify(episode, NotificationPhase.OPENED, channels, now)
    except IntegrityError:  # the same condition, opened by a pass at the same time
        return None
    logger.info("Alert opened: %s", episode)
    return episode


def _listening(episode: AlertEpisode):
    """The enabled channels that may hear ``episode``: its tenant's and the operator's (a
    service episode: the operator's only)."""
    scope = Q(tenant__isnull=True)
    if episode.tenant_id is not None:
        scope |= Q(tenant_id=episode.tenant_id)
    return AlertChannel.objects.filter(scope, enabled=True)


@transaction.atomic
def _episode_close(episode_id: int, summary: str, now: datetime) -> bool:
    """Close the episode and tell the channels that heard it open (and hear it still);
    False when another pass closed it first."""
    if not AlertEpisode.objects.filter(pk=episode_id, closed_at__isnull=True).update(
        closed_at=now, close_summary=summary
    ):
        return False
    episode = AlertEpisode.objects.get(pk=episode_id)
    told = AlertNotification.objects.filter(episode=episode, phase=NotificationPhase.OPENED).values(
        "channel_id"
    )
    channels = [
        channel
        for channel in _listening(episode).filter(pk__in=told)
        if episode.event in channel.events
    ]
    _notify(episode, NotificationPhase.CLOSED, channels, now)
    logger.info("Alert closed: %s (%s)", episode, summary)
    return True


def _notify(episode: AlertEpisode, phase: str, channels: list, now: datetime) -> None:
    made = AlertNotification.objects.bulk_create(
        [
            AlertNotification(episode=episode, channel=channel, phase=phase, next_attempt_at=now)
            for channel in channels
        ]
    )
    _enqueue_on_commit([notification.pk for notification in made])


def _enqueue_on_commit(notification_ids: list[int], countdown: float | None = None) -> None:
    if notification_ids:
        transaction.on_commit(partial(_enqueue, notification_ids, countdown), robust=True)


def _enqueue(notification_ids: list[int], countdown: float | None) -> None:
    """Publish a send message per notification; a broker that is down leaves them pending
    for the next full pass (notifications_resend_lost)."""
    try:
        for notification_id in notification_ids:
            current_app.send_task(
                SEND_NOTIFICATION_TASK,
                (notification_id,),
                queue=settings.ALERTS_QUEUE,
                countdown=countdown,
            )
    except Exception:
        logger.exception("Could not publish alert notifications %s", notification_ids)


def notifications_resend_lost(*, now: datetime) -> int:
    """Publish again the pending notifications due more than LOST_AFTER ago (their message
    was lost: a broker down at the commit, a worker gone); how many."""
    lost = AlertNotification.objects.filter(
        status=NotificationStatus.PENDING, next_attempt_at__lt=now - LOST_AFTER
    ).values_list("pk", flat=True)[:1000]
    ids = list(lost)
    if not ids:
        return 0
    with transaction.atomic():
        # Due again in LOST_AFTER: the next pass does not publish them a second time meanwhile.
        AlertNotification.objects.filter(pk__in=ids, status=NotificationStatus.PENDING).update(
            next_attempt_at=now
        )
        _enqueue_on_commit(ids)
    return len(ids)


# -- delivery ----------------------------------------------------------------------------------


def retry_delay_seconds(attempts: int) -> float:
    """The wait before attempt ``attempts`` + 1: ALERTS_SEND_RETRY_BASE_SECONDS doubled each
    time, at most an hour."""
    return min(3600.0, settings.ALERTS_SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


def notification_deliver(*, notification_id: int) -> float | None:
    """Send a pending notification (the worker's task); the seconds to wait before trying
    again when it failed and has retries left, else None (sent, failed for good, or not
    this worker's: sent already, or being sent by another)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ALERTS_SEND_TIMEOUT_SECONDS + 60)
    claimed = AlertNotification.objects.filter(
        Q(sending_until__isnull=True) | Q(sending_until__lt=now),
        pk=notification_id,
        status=NotificationStatus.PENDING,
    ).update(sending_until=lease, attempts=F("attempts") + 1)
    if not claimed:
        return None
    notification = AlertNotification.objects.select_related("channel", "episode").get(
        pk=notification_id
    )
    if not notification.channel.enabled:  # disabled since the episode was seen: not sent
        AlertNotification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED,
            sending_until=None,
            next_attempt_at=None,
            last_error="Not sent: the channel was disabled.",
        )
        return None
    retries_left = notification.attempts <= settings.ALERTS_SEND_MAX_RETRIES
    return _send(notification, notification.channel, retries_left=retries_left)


def _send(notification: AlertNotification, channel: AlertChannel, *, retries_left: bool):
    """Call the transport (no transaction held meanwhile) and record what it did."""
    message = compose(_facts(notification, channel))
    try:
        try:
            account = deliver(channel, message, message_id=f"alert_{notification.pk}")
        except SendFailed:
            raise
        except Exception as error:  # a fault of ours: recorded and retried, never stuck
            logger.exception("Alert notification %s: unexpected error", notification.pk)
            raise SendFailed(f"Unexpected error: {error!r}") from error
    except SendFailed as failure:
        now = timezone.now()
        delay = retry_delay_seconds(notification.attempts) if failure.retry else None
        status = NotificationStatus.PENDING
        if delay is None or not retries_left:
            status, delay = NotificationStatus.FAILED, None
        AlertNotification.objects.filter(pk=notification.pk).update(
            status=status,
            last_error=str(failure)[:2000],
            sending_until=None,
            next_attempt_at=now + timedelta(seconds=delay) if delay is not None else None,
        )
        notification.refresh_from_db()
        logger.warning(
            "Alert notification %s through '%s' failed (attempt %d): %s",
            notification.pk, channel, notification.attempts, failure,
        )  # fmt: skip
        return delay
    AlertNotification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENT,
        sent_at=timezone.now(),
        sending_until=None,
        next_attempt_at=None,
        last_error="",
    )
    notification.refresh_from_db()
    logger.info("Alert notification %s sent through '%s': %s", notification.pk, channel, account)
    return None


def _facts(notification: AlertNotification, channel: AlertChannel) -> AlertFacts:
    base = settings.PUBLIC_BASE_URL
    episode = notification.episode
    if episode is None:
        return AlertFacts(
            phase=NotificationPhase.TEST,
            channel_name=channel.name,
            tenant_id=channel.tenant_id,
            link=base + _channel_admin_path(channel),
        )
    return AlertFacts(
        phase=notification.phase,
        channel_name=channel.name,
        event=episode.event,
        episode_id=episode.pk,
        tenant_id=episode.tenant_id,
        subject=episode.subject,
        subject_label=episode.subject_label,
        summary=episode.summary,
        close_summary=episode.close_summary,
        opened_at=episode.opened_at,
        closed_at=episode.closed_at if notification.phase == NotificationPhase.CLOSED else None,
        link=base + episode.admin_path,
    )


def _channel_admin_path(channel: AlertChannel) -> str:
    return reverse("admin:alerts_alertchannel_change", args=[channel.pk])
