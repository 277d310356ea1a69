"""Reactions to triggers' events: a webhook trigger's settings must compile when saved, not
fail at the first delivery (a 400 naming the field on the API that saves it)."""

from django.dispatch import receiver

from accounts.encryption import decrypt_secret
from triggers.choices import Delivery
from triggers.signals import trigger_validating
from webhooks.errors import TriggerMisconfigured
from webhooks.pipeline import compile_pipeline

# The pipeline's setting names and the trigger fields that hold them.
SETTING_FIELDS = {
    "authentication": "authentication",
    "signatureVerification": "signature_verification",
    "signingSecret": "signing_secret",
    "inputSchema": "input_schema",
    "messageTemplate": "message_template",
    "outputTransform": "output_transform",
    "config.idempotencyKey": "config",
}


@receiver(trigger_validating)
def _webhook_settings_compile(sender, trigger, **kwargs) -> dict[str, str]:
    if trigger.delivery not in (Delivery.WEBHOOK, Delivery.EVENT):
        return {}
    secret = None
    if trigger.signing_secret is not None:
        secret = decrypt_secret(trigger.signing_secret.encrypted_value)
    try:
        compile_pipeline(
            authentication_config=trigger.authentication,
            signature_verification=trigger.signature_verification,
            signing_secret=secret,
            input_schema=trigger.input_schema,
            message_template=trigger.message_template,
            output_transform=trigger.output_transform,
            idempotency_key=(trigger.config or {}).get("idempotencyKey"),
        )
    except TriggerMisconfigured as misconfigured:
        return {SETTING_FIELDS.get(misconfigured.setting, "config"): misconfigured.reason}
    return {}
