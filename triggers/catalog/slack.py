"""Slack: events of the Slack app, delivered to /v1/webhooks/slack and routed to every
trigger whose event type, team and channel match."""

from triggers.catalog.entry import AccountKey, Condition, TriggerType, string_property, value_at
from triggers.choices import Delivery

# The frontend API's slack_trigger: a trigger with a webhook URL of its own that takes any
# Slack event; not in the provider catalog.
SLACK_EVENT = TriggerType(
    "slack", "event", "Slack event", "Fires on an event from the Slack Events API.",
    Delivery.EVENT, listed=False,
)  # fmt: skip

_INSTRUCTIONS = (
    "Subscribe the Slack app to the event and set its Request URL to /v1/webhooks/slack; "
    "narrow the trigger to a workspace and a channel if you like."
)
_SCHEMA = {
    "type": "object",
    "properties": {
        "team_id": string_property("Workspace", "Only this workspace's events; any when absent."),
        "channel_id": string_property("Channel", "Only this channel's events; any when absent."),
    },
    "additionalProperties": False,
}  # fmt: skip
# A workspace belongs to one tenant: the first whose trigger names it, or an operator's choice.
ACCOUNT = AccountKey(
    "Slack workspace", "team_id",
    of_event=lambda body: _text(value_at(body, "team_id") or value_at(body, "team.id")),
    of_config=lambda team_id: team_id or None,
)  # fmt: skip


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


_WHERE = (
    Condition("body", "team_id", config_key="team_id"),
    Condition("body", "event.channel", config_key="channel_id"),
)


def _event(trigger_id, name, description, event_type, sample_event) -> TriggerType:
    return TriggerType(
        "slack", trigger_id, name, description, Delivery.EVENT,
        instructions=_INSTRUCTIONS, icon="slack", tags=("chat", "slack"),
        webhook_requires_verification=True, config_schema=_SCHEMA,
        event=(Condition("body", "type", "event_callback"),
               Condition("body", "event.type", event_type), *_WHERE),
        sample_payload={"type": "event_callback", "team_id": "T0001", "event_id": "Ev0PV52K21",
                        "event": {"type": event_type, "channel": "C2147483705", **sample_event}},
    )  # fmt: skip


ON_MESSAGE = _event(
    "on_message", "New message", "Fires on a message posted in a channel the app is in.",
    "message", {"user": "U2147483697", "text": "Hello world"},
)  # fmt: skip
ON_APP_MENTION = _event(
    "on_app_mention", "App mentioned", "Fires when someone mentions the app.",
    "app_mention", {"user": "U061F7AUR", "text": "<@U0LAN0Z89> is it everything?"},
)  # fmt: skip

ENTRIES = (SLACK_EVENT, ON_MESSAGE, ON_APP_MENTION)
