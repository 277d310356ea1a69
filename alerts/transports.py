"""Sending one message through one channel: email, Slack, a signed webhook.

- **Email** through Django's mail backend (``EMAIL_*`` settings, from ALERTS_FROM_EMAIL). The
  SMTP server is the operator's, so no guard; EMAIL_TIMEOUT bounds each of its operations.
- **Slack**: POST ``{"text": …}`` to the incoming-webhook URL.
- **Webhook**: POST the JSON payload signed with Standard Webhooks — ``webhook-id`` (the
  notification's, the same on every retry, so a receiver can drop a repeat),
  ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``
  with the channel's ``whsec_`` secret (the standardwebhooks library signs).

Both HTTP kinds go through the runners' exchange (executions/runners/exchange.py): one
deadline for the whole exchange (ALERTS_SEND_TIMEOUT_SECONDS), redirects not followed, and
for a tenant's channel the outbound guard (private addresses refused unless
ALLOW_PRIVATE_OUTBOUND). The operator's channels (no tenant, made by a superuser in the
admin) are the operator's own URLs, like the settings', and are not guarded.
"""

import json
import smtplib
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.core.mail import get_connection, send_mail
from standardwebhooks.webhooks import Webhook

from accounts.encryption import decrypt_secret
from alerts.choices import ChannelKind
from alerts.messages import Message, slack_body
from alerts.models import AlertChannel
from executions.runners.exchange import ResponseTooLarge, send
from executions.runners.outbound import OutboundURLRefused

_ANSWER_SHOWN = 300
_MAX_ANSWER_BYTES = 64 * 1024


class SendFailed(Exception):
    """The channel did not take the message; ``retry``: worth trying again later."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def deliver(channel: AlertChannel, message: Message, *, message_id: str) -> str:
    """Send ``message`` through ``channel``; a short account of the answer. Raises
    SendFailed."""
    if channel.kind == ChannelKind.EMAIL:
        return _email(channel, message)
    if channel.kind == ChannelKind.SLACK:
        return _post(channel, json.dumps(slack_body(message)), {})
    body = json.dumps(message.payload, separators=(",", ":"))
    now = datetime.now(tz=UTC)
    secret = decrypt_secret(channel.encrypted_secret)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
    return _post(channel, body, headers)


def _email(channel: AlertChannel, message: Message) -> str:
    try:
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
        sent = send_mail(
            message.title,
            message.text,
            settings.ALERTS_FROM_EMAIL,
            list(channel.email_to),
            connection=connection,
        )
    except (smtplib.SMTPException, OSError) as error:
        raise SendFailed(f"The mail server refused or could not be reached: {error}") from None
    if not sent:
        raise SendFailed("The mail backend sent nothing.")
    return f"Emailed to {len(channel.email_to)} addresses."


def _post(channel: AlertChannel, body: str, headers: dict[str, str]) -> str:
    url = decrypt_secret(channel.encrypted_url)
    timeout = settings.ALERTS_SEND_TIMEOUT_SECONDS
    try:
        response = send(
            "POST",
            url,
            content=body,
            headers={
                "content-type": "application/json",
                "user-agent": "agent-triggers-alerts",
                **headers,
            },
            timeout=timeout,
            guarded=channel.tenant_id is not None,
            max_response_bytes=_MAX_ANSWER_BYTES,
        )
    except OutboundURLRefused as refused:
        # The URL's host is private (and ALLOW_PRIVATE_OUTBOUND is off): no retry changes it.
        raise SendFailed(str(refused), retry=False) from None
    except ResponseTooLarge:
        raise SendFailed(f"The answer is larger than {_MAX_ANSWER_BYTES} bytes.") from None
    except httpx.InvalidURL as error:
        raise SendFailed(f"Not a URL that can be sent to: {error}", retry=False) from None
    except httpx.TimeoutException:
        raise SendFailed(f"No answer within {timeout} s.") from None
    except httpx.HTTPError as error:
        raise SendFailed(f"Could not be reached: {error}") from None
    if not response.is_success:
        raise SendFailed(f"Answered {response.status_code}: {response.text[:_ANSWER_SHOWN]}")
    return f"Answered {response.status_code}."
