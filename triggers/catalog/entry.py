"""What one catalog entry says about a trigger type: the provider API's fields, how it
fires, the JSON Schema of its ``trigger_config`` and, for a provider's webhooks, which
deliveries are its events."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from jsonschema import Draft202012Validator

from triggers.choices import Delivery


class TriggerKind(models.TextChoices):
    """The provider API's ``trigger_type``."""

    WEBHOOK = "webhook", "Webhook"
    POLLING = "polling", "Polling"
    SCHEDULED = "scheduled", "Scheduled"
    FILE_SYSTEM = "file_system", "File system"


_KIND_OF_DELIVERY = {
    Delivery.SCHEDULE: TriggerKind.SCHEDULED,
    Delivery.WEBHOOK: TriggerKind.WEBHOOK,
    Delivery.EVENT: TriggerKind.WEBHOOK,
    Delivery.POLLING: TriggerKind.POLLING,
    Delivery.FILE_SYSTEM: TriggerKind.FILE_SYSTEM,
}


@dataclass(frozen=True)
class Condition:
    """One test an event must pass: the value at ``path`` in the request's ``source``
    (``header`` name, or a dotted path into the JSON ``body``) equals ``value`` — or, with
    ``config_key``, equals the trigger's ``trigger_config[config_key]`` when that is set
    (absent means any)."""

    source: str  # "header" | "body"
    path: str
    value: str | None = None
    config_key: str | None = None


@dataclass(frozen=True)
class AccountKey:
    """How a provider app's events name the outside account they come from (a Slack
    workspace, a GitHub account, a Stripe account), and which ``trigger_config`` key names
    one. The account ties an app event to the one tenant it belongs to
    (``accounts.OutsideAccount``; docs/provider-api.md)."""

    label: str  # "Slack workspace"
    config_key: str
    of_event: Callable[[Any], str | None]  # the parsed body -> the account's id
    of_config: Callable[[str], str | None]  # the config key's value -> the account's id


def value_at(body: Any, path: str) -> Any:
    """The value at the dotted ``path`` in a parsed JSON body, or None."""
    for part in path.split("."):
        body = body.get(part) if isinstance(body, dict) else None
    return body


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
    instructions: str | None = None
    icon: str = ""
    tags: tuple[str, ...] = ()
    version: str = "1.0.0"
    webhook_requires_verification: bool = False
    # JSON Schema of trigger_config, with titles and descriptions for a form.
    config_schema: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "additionalProperties": False}
    )
    # A delivery is one of this type's events only when every condition holds.
    event: tuple[Condition, ...] = ()
    # The preset (webhooks/presets.py) its connection's signing secret verifies with.
    signature_preset: str | None = None
    # What a delivery looks like, shown as a test sample until the trigger received one.
    sample_payload: dict[str, Any] | None = None
    # In the provider API's catalog (/providers/...); the frontend API's slack_trigger is not.
    listed: bool = True
    # Checks a JSON Schema cannot make (a JMESPath that compiles): {"<key>": message}.
    config_check: Callable[[dict[str, Any]], dict[str, str]] | None = None
    # Polling types: the config keys that name the source; a change to one of them starts the
    # cursor over (the new source's items are not "new" to the old cursor).
    cursor_keys: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider_id, self.trigger_id)

    @property
    def kind(self) -> TriggerKind:
        return _KIND_OF_DELIVERY[self.delivery]

    def config_errors(self, config: Any) -> dict[str, str]:
        """``{"trigger_config.<path>": message}`` for each part of ``config`` the entry's
        JSON Schema refuses; {} when it is valid."""
        if not isinstance(config, dict):
            return {"trigger_config": "Must be an object."}
        errors: dict[str, str] = {}
        for error in Draft202012Validator(self.config_schema).iter_errors(config):
            where = ".".join(str(part) for part in error.absolute_path)
            if error.validator == "additionalProperties":
                extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
                where = ".".join(filter(None, [where, extra[0] if extra else ""]))
            errors.setdefault(
                f"trigger_config.{where}" if where else "trigger_config", error.message
            )
        if not errors and self.config_check is not None:
            for key, message in self.config_check(config).items():
                errors[f"trigger_config.{key}"] = message
        return errors

    def matches(self, config: dict[str, Any], headers, body: Any) -> bool:
        """Is a delivery with these ``headers`` (case-insensitive) and parsed ``body`` one of
        this type's events, for a trigger configured with ``config``?"""
        for condition in self.event:
            wanted = condition.value
            if condition.config_key is not None:
                wanted = (config or {}).get(condition.config_key)
                if wanted in (None, ""):
                    continue  # not narrowed: any value
            if condition.source == "header":
                found = next(
                    (v for k, v in headers.items() if k.lower() == condition.path.lower()), None
                )
            else:
                found = value_at(body, condition.path)
            if found != wanted:
                return False
        return True

    @property
    def can_get_test_samples(self) -> bool:
        return self.sample_payload is not None or self.delivery in (
            Delivery.WEBHOOK,
            Delivery.EVENT,
            Delivery.POLLING,  # fetched from the source, now (docs/polling.md)
        )


def string_property(title: str, description: str, **extra) -> dict[str, Any]:
    return {"type": "string", "title": title, "description": description, **extra}
