"""What a notification says, as email text, a Slack message and a webhook's JSON: pure, no
database. Every message carries the link to the subject's page in the admin."""

from dataclasses import dataclass
from datetime import datetime

from alerts.choices import AlertEvent, NotificationPhase

PRODUCT = "agent-triggers"

_OPENED = {
    AlertEvent.TRIGGER_FAILED: "Trigger frozen as failed",
    AlertEvent.POLL_STALE: "Poll gone stale",
    AlertEvent.WATCH_STALE: "Watched folder gone stale",
    AlertEvent.EXECUTIONS_WAITING: "Executions waiting too long",
    AlertEvent.SCHEDULER_LOST: "Scheduler heartbeat lost",
    AlertEvent.WATCHER_LOST: "Watcher heartbeat lost",
}
# The webhook's "type": what happened to the episode.
WEBHOOK_TYPES = {
    NotificationPhase.OPENED: "alert.opened",
    NotificationPhase.CLOSED: "alert.closed",
    NotificationPhase.TEST: "alert.test",
}


@dataclass(frozen=True)
class AlertFacts:
    """What a message is made of: the episode (None for a channel's test) and the phase."""

    phase: str
    channel_name: str
    event: str | None = None
    episode_id: int | None = None
    tenant_id: str | None = None
    subject: str = ""
    subject_label: str = ""
    summary: str = ""
    close_summary: str = ""
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    link: str = ""


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    payload: dict


def _title(facts: AlertFacts) -> str:
    if facts.phase == NotificationPhase.TEST:
        return f"[{PRODUCT}] Test of the alert channel '{facts.channel_name}'"
    what = _OPENED.get(facts.event, facts.event)
    if facts.phase == NotificationPhase.CLOSED:
        return f"[{PRODUCT}] Resolved: {what}: {facts.subject_label}"
    return f"[{PRODUCT}] {what}: {facts.subject_label}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def compose(facts: AlertFacts) -> Message:
    """The notification for ``facts``: a title (an email's subject), a text (an email's body
    and Slack's message) and the webhook's JSON."""
    title = _title(facts)
    if facts.phase == NotificationPhase.TEST:
        lines = ["This is a test: the channel works.", f"Admin: {facts.link}"]
    else:
        lines = [facts.summary]
        if facts.phase == NotificationPhase.CLOSED:
            lines.append(facts.close_summary)
        scope = f"Tenant: {facts.tenant_id}" if facts.tenant_id else "The service itself"
        lines += [scope, f"Since: {_iso(facts.opened_at)}", f"Admin: {facts.link}"]
        if facts.closed_at:
            lines.insert(-1, f"Until: {_iso(facts.closed_at)}")
    payload = {
        "type": WEBHOOK_TYPES[facts.phase],
        "event": facts.event,
        "episode_id": facts.episode_id,
        "tenant_id": facts.tenant_id,
        "subject": facts.subject or None,
        "subject_label": facts.subject_label or None,
        "summary": facts.summary or None,
        "close_summary": facts.close_summary or None,
        "opened_at": _iso(facts.opened_at),
        "closed_at": _iso(facts.closed_at),
        "url": facts.link,
        "channel": facts.channel_name,
    }
    return Message(title=title, text="\n".join(lines), payload=payload)


def slack_body(message: Message) -> dict:
    """A Slack incoming webhook's body: ``text`` (mrkdwn), the link as Slack writes one."""
    first, *rest = message.text.split("\n")
    link = message.payload["url"]
    rest = [line for line in rest if not line.startswith("Admin: ")]
    return {"text": "\n".join([f"*{message.title}*", first, *rest, f"<{link}|Open in the admin>"])}
