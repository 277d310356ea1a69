"""The trigger catalog: every trigger type as ``provider_id`` + ``trigger_id``.

A trigger row stores the pair; this registry says how such a trigger fires. The provider API's
provider catalog (``/providers/...``) will extend it with provider entries.
"""

from dataclasses import dataclass, field

from triggers.choices import Delivery


@dataclass(frozen=True)
class TriggerType:
    provider_id: str
    trigger_id: str
    name: str
    description: str
    delivery: Delivery
    # Config keys held in typed columns the engine indexes or reads (key -> Trigger field);
    # the trigger's ``config`` and those columns are kept equal by triggers.services.
    config_columns: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider_id, self.trigger_id)


CRON = TriggerType(
    "builtin", "cron", "Schedule", "Fires on a cron schedule.", Delivery.SCHEDULE,
    {"schedule": "cron_expression", "timezone": "timezone"},
)  # fmt: skip
WEBHOOK = TriggerType(
    "builtin", "webhook", "Webhook", "Fires when its webhook URL is called.", Delivery.WEBHOOK,
    {"path": "webhook_path"},
)  # fmt: skip
FILE_SYSTEM = TriggerType(
    "builtin",
    "file_system",
    "Watched folder",
    "Fires when a file matching its patterns appears in a watched folder.",
    Delivery.FILE_SYSTEM,
)
SLACK_EVENT = TriggerType(
    "slack", "event", "Slack event", "Fires on an event from the Slack Events API.", Delivery.EVENT
)

_REGISTRY: dict[tuple[str, str], TriggerType] = {
    entry.key: entry for entry in (CRON, WEBHOOK, FILE_SYSTEM, SLACK_EVENT)
}


def trigger_type_get(provider_id: str, trigger_id: str) -> TriggerType | None:
    return _REGISTRY.get((provider_id, trigger_id))


def trigger_types() -> list[TriggerType]:
    return list(_REGISTRY.values())
