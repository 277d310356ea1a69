"""The trigger catalog: every trigger type as ``provider_id`` + ``trigger_id``, one module per
provider (``builtin``, ``schedule``, ``stripe``, ``github``, ``slack``, and the polled
``rss`` and ``http``).

A trigger row stores the pair; its entry (``entry.TriggerType``) says how such a trigger
fires, what its ``trigger_config`` may hold (a JSON Schema) and, for a provider's webhooks,
which deliveries are its events. Every surface reads this one catalog: the provider API
lists it under ``/providers/…``.
"""

from triggers.catalog import builtin, github, http, rss, schedule, slack, stripe
from triggers.catalog.builtin import CRON, FILE_SYSTEM, WEBHOOK
from triggers.catalog.entry import Condition, TriggerKind, TriggerType
from triggers.catalog.slack import SLACK_EVENT

__all__ = [
    "CRON",
    "FILE_SYSTEM",
    "SLACK_EVENT",
    "WEBHOOK",
    "Condition",
    "TriggerKind",
    "TriggerType",
    "provider_entries",
    "trigger_type_get",
    "trigger_types",
]

_REGISTRY: dict[tuple[str, str], TriggerType] = {
    entry.key: entry
    for module in (builtin, schedule, stripe, github, slack, rss, http)
    for entry in module.ENTRIES
}


def trigger_type_get(provider_id: str, trigger_id: str) -> TriggerType | None:
    return _REGISTRY.get((provider_id, trigger_id))


def trigger_types() -> list[TriggerType]:
    return list(_REGISTRY.values())


def provider_entries(provider_id: str) -> list[TriggerType]:
    """The listed entries of one provider, in catalog order; [] for an unknown provider."""
    return [e for e in _REGISTRY.values() if e.provider_id == provider_id and e.listed]
