"""The trigger catalog: every trigger type as ``provider_id`` + ``trigger_id``, one module per
provider (``builtin``, ``schedule``, ``stripe``, ``github``, ``slack``, and the polled
``rss`` and ``http``).

A trigger row stores the pair; its entry (``entry.TriggerType``) says how such a trigger
fires, the one definition of its config (a JSON Schema, the checks a schema cannot make, and
those an app above registers with ``config_check_register``) and, for a provider's webhooks,
which deliveries are its events. Every surface reads this one catalog and checks a config
with ``TriggerType.config_errors`` under its ``ConfigSurface``: the provider API lists it
under ``/providers/…``.
"""

from triggers import cost_control
from triggers.catalog import builtin, github, http, rss, schedule, slack, stripe
from triggers.catalog.builtin import CRON, FILE_SYSTEM, WEBHOOK
from triggers.catalog.entry import (
    AGENT_CONFIG,
    CLIENT_CONFIG,
    PROVIDER_CONFIG,
    AccountKey,
    Condition,
    ConfigSurface,
    TriggerKind,
    TriggerType,
    config_check_register,
    config_surface,
)
from triggers.catalog.slack import SLACK_EVENT
from triggers.choices import Delivery

__all__ = [
    "AGENT_CONFIG",
    "CLIENT_CONFIG",
    "CRON",
    "FILE_SYSTEM",
    "PROVIDER_CONFIG",
    "SLACK_EVENT",
    "WEBHOOK",
    "AccountKey",
    "Condition",
    "ConfigSurface",
    "TriggerKind",
    "TriggerType",
    "account_key",
    "config_check_register",
    "config_surface",
    "provider_entries",
    "trigger_type_get",
    "trigger_types",
]

_REGISTRY: dict[tuple[str, str], TriggerType] = {
    entry.key: entry
    for module in (builtin, schedule, stripe, github, slack, rss, http)
    for entry in module.ENTRIES
}


def _with_cost_control(entries) -> None:
    """Every event type (webhook, app event, poll, watched folder; not a schedule) takes
    ``debounce`` and ``throttle`` (triggers/cost_control.py): one definition, added here to
    each entry's schema and checks, so that no type can leave them out and every surface
    refuses the same values with the same fields."""
    for entry in entries:
        if entry.delivery == Delivery.SCHEDULE:
            continue
        entry.config_schema.setdefault("properties", {}).update(cost_control.PROPERTIES)
        config_check_register(entry, cost_control.config_check)


_with_cost_control(_REGISTRY.values())


def trigger_type_get(provider_id: str, trigger_id: str) -> TriggerType | None:
    return _REGISTRY.get((provider_id, trigger_id))


def trigger_types() -> list[TriggerType]:
    return list(_REGISTRY.values())


def provider_entries(provider_id: str) -> list[TriggerType]:
    """The listed entries of one provider, in catalog order; [] for an unknown provider."""
    return [e for e in _REGISTRY.values() if e.provider_id == provider_id and e.listed]


_ACCOUNT_KEYS: dict[str, AccountKey] = {
    module.ENTRIES[0].provider_id: module.ACCOUNT for module in (github, slack, stripe)
}


def account_key(provider_id: str) -> AccountKey | None:
    """How ``provider_id``'s app events name their outside account; None for a provider with
    no app URL (/v1/webhooks/<provider_id>)."""
    return _ACCOUNT_KEYS.get(provider_id)
