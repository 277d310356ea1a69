"""Reactions to triggers' events: a file_system trigger's config is checked when it is saved
(a 400 naming ``config.<key>`` on the API that saves it), so the watcher never meets a
watch_path outside FILE_WATCH_ROOTS."""

from django.conf import settings
from django.dispatch import receiver

from triggers.choices import Delivery
from triggers.signals import trigger_validating
from watcher.folder_config import WatchConfigInvalid, watch_config_parse


@receiver(trigger_validating)
def _watch_config_valid(sender, trigger, **kwargs) -> dict[str, str]:
    if trigger.delivery != Delivery.FILE_SYSTEM:
        return {}
    if not isinstance(trigger.config, dict):
        return {"config": "Must be an object with watch_path, patterns, events, ..."}
    try:
        watch_config_parse(trigger.config, roots=settings.FILE_WATCH_ROOTS)
    except WatchConfigInvalid as invalid:
        return invalid.errors
    return {}
