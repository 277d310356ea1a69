"""Reactions to triggers' and accounts' events: a webhook trigger's settings must compile
when saved, not fail at the first delivery (a 400 naming the field on the API that saves
it); its endpoint row is written with the trigger, in the same transaction; a deleted
signing secret makes the triggers it verified stale."""

from django.dispatch import receiver

from accounts.encryption import decrypt_secret
from accounts.signals import credential_deleting
from triggers.models import Trigger
from triggers.services import triggers_mark_stale
from triggers.signals import trigger_saved, trigger_validating
from webhooks import services
from webhooks.errors import TriggerMisconfigured
from webhooks.pipeline import compile_pipeline

# The pipeline's setting names and the settings that hold them.
SETTING_FIELDS = {
    "authentication": "authentication",
    "signatureVerification": "signature_verification",
    "signingSecret": "signing_secret",
    "inputSchema": "input_schema",
    "messageTemplate": "message_template",
    "outputTransform": "output_transform",
    "config.idempotencyKey": "config",
}


def _given_settings(trigger: Trigger) -> dict:
    """The webhook settings a surface gives with this write (triggers.services' kind settings)."""
    kind_settings = getattr(trigger, "kind_settings", None) or {}
    return {
        name: value for name, value in kind_settings.items() if name in services.ENDPOINT_FIELDS
    }


@receiver(trigger_validating)
def _webhook_settings_compile(sender, trigger, **kwargs) -> dict[str, str]:
    given = _given_settings(trigger)
    if given:
        errors = services.webhook_settings_errors(trigger=trigger, settings=given)
        trigger.kind_settings.update(given)  # the path normalised: the one saved is the one checked
        if errors:
            return errors
    if trigger.delivery not in services.WEBHOOK_DELIVERIES:
        return {}
    stored = services.webhook_endpoint_of(trigger)
    current = {
        name: given[name] if name in given else getattr(stored, field, None)
        for name, field in services.ENDPOINT_FIELDS.items()
    }
    secret = None
    if current["signing_secret"] is not None:
        secret = decrypt_secret(current["signing_secret"].encrypted_value)
    try:
        compile_pipeline(
            authentication_config=current["authentication"],
            signature_verification=current["signature_verification"],
            signing_secret=secret,
            input_schema=current["input_schema"],
            message_template=current["message_template"] or "",
            output_transform=current["output_transform"],
            idempotency_key=(trigger.config or {}).get("idempotencyKey"),
        )
    except TriggerMisconfigured as misconfigured:
        return {SETTING_FIELDS.get(misconfigured.setting, "config"): misconfigured.reason}
    return {}


@receiver(trigger_saved)
def _webhook_endpoint_keep(sender, trigger, kind_settings, copied_from=None, **kwargs) -> set:
    given = {
        name: value for name, value in kind_settings.items() if name in services.ENDPOINT_FIELDS
    }
    services.webhook_endpoint_save(trigger=trigger, settings=given, copied_from=copied_from)
    return set(given)


@receiver(credential_deleting)
def _credential_deleting(sender, credential, **kwargs) -> None:
    triggers_mark_stale(
        triggers=Trigger.objects.filter(webhook_endpoint__signing_secret=credential),
        reason=f"Signing secret credential '{credential.name}' was deleted.",
    )
