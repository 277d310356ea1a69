"""Reactions to triggers' and accounts' events: a webhook trigger's settings must compile
when saved, not fail at the first delivery (a 400 naming the field on the API that saves
it); its endpoint row is written with the trigger, in the same transaction; a deleted
signing secret makes the triggers it verified stale."""

from django.dispatch import receiver

from accounts.signals import credential_deleting
from triggers.models import Trigger
from triggers.services import triggers_mark_stale
from triggers.signals import trigger_saved, trigger_validating
from webhooks import services


def _given_settings(trigger: Trigger) -> dict:
    """The webhook settings a surface gives with this write (triggers.services' kind settings)."""
    kind_settings = getattr(trigger, "kind_settings", None) or {}
    return {
        name: value for name, value in kind_settings.items() if name in services.ENDPOINT_FIELDS
    }


@receiver(trigger_validating)
def _webhook_settings_compile(sender, trigger, **kwargs) -> dict[str, str]:
    given = _given_settings(trigger)
    errors = services.webhook_settings_errors(trigger=trigger, settings=given)
    if given:
        trigger.kind_settings.update(given)  # the path normalised: the one saved is the one checked
    return errors


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
