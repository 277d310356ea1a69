"""The trigger admin's form: the config keys a trigger's type gives a meaning to
(triggers/config_keys.py) as fields of their own, instead of JSON to type by hand.

A schedule gets its one-time ``date``, ``expirationDate`` and ``jitter_seconds``; a webhook
(or Slack event) trigger its filters and what its input carries; every trigger its own
``max_failure_count``. The JSON box keeps the other keys. The fields only shape ``config``:
the values are checked by ``Trigger.clean()`` and saved by the trigger services, as on every
API, and a refusal is shown on the field it concerns.
"""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from triggers import config_keys
from triggers.choices import Delivery

PREFIX = "config__"


def _flag(help_text: str):
    return forms.BooleanField(required=False, help_text=help_text)


_EVERY_TYPE = {
    "max_failure_count": lambda: forms.IntegerField(
        required=False, min_value=1,
        help_text="Consecutive failed executions that freeze the trigger (empty: the default).",
    ),
}  # fmt: skip
_SCHEDULE = {
    "date": lambda: forms.DateField(
        required=False, help_text="Run once, on this day (YYYY-MM-DD, the trigger's time zone)."
    ),
    "expirationDate": lambda: forms.DateField(
        required=False, help_text="The schedule's last day (YYYY-MM-DD, the trigger's time zone)."
    ),
    "jitter_seconds": lambda: forms.IntegerField(
        required=False, min_value=0, max_value=config_keys.MAX_JITTER_SECONDS,
        help_text="Run each slot up to this many seconds late (a fixed offset per trigger).",
    ),
}  # fmt: skip
_WEBHOOK = {
    "authentication_required": lambda: _flag(
        "Deliveries must send the trigger's secret in X-Webhook-Secret (a new one is shown once)."
    ),
    "body_contains": lambda: forms.CharField(
        required=False, max_length=config_keys.MAX_BODY_CONTAINS_LENGTH,
        help_text="Only deliveries whose body contains this text fire.",
    ),
    "required_headers": lambda: forms.CharField(
        required=False, help_text="Only deliveries with these headers fire (comma-separated)."
    ),
    "include_headers": lambda: _flag("The input carries the request's headers."),
    "include_query_params": lambda: _flag("The input carries the query parameters."),
    "include_request_metadata": lambda: _flag("The input carries the method, path and time."),
}  # fmt: skip
_BY_DELIVERY = {
    Delivery.SCHEDULE: _SCHEDULE,
    Delivery.WEBHOOK: _WEBHOOK,
    Delivery.EVENT: _WEBHOOK,
}


def config_fields(delivery: str | None) -> dict[str, forms.Field]:
    """The form fields of ``delivery``'s config keys, by form field name."""
    makers = {**_BY_DELIVERY.get(delivery, {}), **_EVERY_TYPE}
    return {PREFIX + key: make() for key, make in makers.items()}


def _to_form(key: str, value):
    if key == "required_headers" and isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value


def _to_config(key: str, value):
    if key == "required_headers":
        return [name.strip() for name in (value or "").split(",") if name.strip()] or None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is False or value == "":
        return None
    return value


class TriggerForm(forms.ModelForm):
    """The admin's trigger form; ``typed_keys`` (set per trigger type by TriggerAdmin.get_form)
    are the config keys shown as fields of their own."""

    typed_keys: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = self.instance.config if isinstance(self.instance.config, dict) else {}
        for key in self.typed_keys:
            self.initial.setdefault(PREFIX + key, _to_form(key, config.get(key)))
        if "config" in self.fields and self.typed_keys:
            # The JSON box shows the other keys; the fields above own theirs.
            self.initial["config"] = {k: v for k, v in config.items() if k not in self.typed_keys}

    def clean(self):
        cleaned = super().clean()
        if not self.typed_keys or not isinstance(cleaned.get("config"), dict | type(None)):
            return cleaned
        config = dict(cleaned.get("config") or {})
        for key in self.typed_keys:
            config.pop(key, None)
            value = _to_config(key, cleaned.get(PREFIX + key))
            if value is not None:
                config[key] = value
        cleaned["config"] = config
        return cleaned

    def config_changed(self) -> bool:
        return any(name.startswith(PREFIX) for name in self.changed_data)

    def _update_errors(self, errors: ValidationError) -> None:
        # The model names a config key's error "config.<key>" (or "config.<key>[i]"): shown on
        # the key's own field, else on the JSON box.
        if hasattr(errors, "error_dict"):
            mapped: dict[str, list] = {}
            for field, messages in errors.error_dict.items():
                if field.startswith("config."):
                    key = field.removeprefix("config.").split("[")[0]
                    field = PREFIX + key if PREFIX + key in self.fields else "config"
                if field != NON_FIELD_ERRORS and field not in self.fields:
                    field = NON_FIELD_ERRORS
                mapped.setdefault(field, []).extend(messages)
            errors = ValidationError(mapped)
        super()._update_errors(errors)
