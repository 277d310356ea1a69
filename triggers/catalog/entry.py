"""What one catalog entry says about a trigger type: the provider API's fields, how it
fires, the one definition of its config (a JSON Schema and the checks a schema cannot make)
and, for a provider's webhooks, which deliveries are its events.

Every surface checks a type's config against that one definition (``config_errors``); what a
surface's contract adds is its ``ConfigSurface``: the prefix its 400s name keys with, whether
it keeps keys of its own, and keys it alone requires."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from jsonschema import Draft202012Validator

from triggers import event_rules
from triggers.choices import Delivery, TriggerOrigin


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


@dataclass(frozen=True)
class ConfigSurface:
    """How one surface applies a type's config definition: what its contract adds to it."""

    # Where the surface's 400s name a key: ``<prefix>.<key>``.
    prefix: str = "config"
    # A key the type does not define is stored and ignored instead of refused.
    keeps_other_keys: bool = False
    # The config is the trigger's whole configuration, so the type's required keys are in it
    # (elsewhere a field of the surface's own, e.g. custom_cron_expression, may hold them).
    whole: bool = True
    # Keys this surface alone requires (non-empty), by (provider_id, trigger_id).
    required: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


REQUIRED_MESSAGE = "This setting is required."
# The agent API: a declared config is whole and strict; its responses show no webhook URL, so
# a webhook trigger is reached by its ``path`` alone.
AGENT_CONFIG = ConfigSurface(required={("builtin", "webhook"): ("path",)})
# The provider API: ``trigger_config``, whole and strict.
PROVIDER_CONFIG = ConfigSurface(prefix="trigger_config")
# The frontend API's client, the management API and the admin keep keys of their own in
# ``config`` (docs/api.md); the type's keys among them are checked all the same.
CLIENT_CONFIG = ConfigSurface(keeps_other_keys=True, whole=False)

_SURFACE_OF_ORIGIN = {
    TriggerOrigin.AGENT: AGENT_CONFIG,
    TriggerOrigin.PROVIDER: PROVIDER_CONFIG,
}


def config_surface(origin: str) -> ConfigSurface:
    """The config rules of the surface that made a trigger (every later write keeps them)."""
    return _SURFACE_OF_ORIGIN.get(origin, CLIENT_CONFIG)


ConfigCheck = Callable[[dict[str, Any]], dict[str, str]]
# Checks an app above triggers makes for a type ({type key: [check]}), registered with
# ``config_check_register`` so that they are part of the type's definition.
_REGISTERED_CHECKS: dict[tuple[str, str], list[ConfigCheck]] = {}


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
    config_check: ConfigCheck | None = None
    # Polling types: the config keys that name the source; a change to one of them starts the
    # cursor over (the new source's items are not "new" to the old cursor).
    cursor_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Every event type takes the filter and the concurrency key (triggers/event_rules.py):
        # one definition, added here rather than repeated in each entry's schema.
        if self.delivery in event_rules.EVENT_DELIVERIES:
            schema = dict(self.config_schema)
            schema["properties"] = {
                **schema.get("properties", {}),
                **event_rules.EVENT_RULE_SCHEMAS,
            }
            object.__setattr__(self, "config_schema", schema)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider_id, self.trigger_id)

    @property
    def kind(self) -> TriggerKind:
        return _KIND_OF_DELIVERY[self.delivery]

    def config_errors(
        self, config: Any, surface: ConfigSurface = PROVIDER_CONFIG
    ) -> dict[str, str]:
        """``{"<surface prefix>.<path>": message}`` for each part of ``config`` the type's
        definition refuses on ``surface`` — its JSON Schema (types, ranges, required and
        unknown keys), then, once that passes, its checks and those registered for it; {}
        when it is valid."""
        prefix = surface.prefix
        if not isinstance(config, dict):
            return {prefix: "Must be an object."}
        errors: dict[str, str] = {}
        for error in Draft202012Validator(self.config_schema).iter_errors(config):
            where = [prefix]
            for part in error.absolute_path:  # config.events[0], as config_keys names items
                where.append(f"{where.pop()}[{part}]" if isinstance(part, int) else str(part))
            if error.validator == "additionalProperties":
                if surface.keeps_other_keys and len(where) == 1:
                    continue
                for key in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                    errors.setdefault(
                        ".".join([*where, key]), f"Not a setting of {self.trigger_id} triggers."
                    )
            elif error.validator == "required":
                if not surface.whole and len(where) == 1:
                    continue
                for key in error.validator_value:
                    if key not in error.instance:
                        errors.setdefault(".".join([*where, key]), REQUIRED_MESSAGE)
            else:
                errors.setdefault(".".join(where), error.message)
        for key in surface.required.get(self.key, ()):
            if config.get(key) in (None, ""):
                errors.setdefault(f"{prefix}.{key}", REQUIRED_MESSAGE)
        if not errors:
            checks = [self.config_check] if self.config_check else []
            if self.delivery in event_rules.EVENT_DELIVERIES:
                checks.append(event_rules.config_errors)
            for check in checks + _REGISTERED_CHECKS.get(self.key, []):
                for key, message in check(config).items():
                    errors.setdefault(f"{prefix}.{key}", message)
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


def config_check_register(entry: TriggerType, check: ConfigCheck) -> None:
    """Make ``check`` (config -> {key: message}) part of ``entry``'s config definition: for an
    app above triggers whose rules a type's config must obey (the watcher's folders)."""
    checks = _REGISTERED_CHECKS.setdefault(entry.key, [])
    if check not in checks:
        checks.append(check)
