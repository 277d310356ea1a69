"""The watcher's part of the file_system type's config definition: its folder checks,
registered with the catalog (``config_check_register``), so every surface that checks a
file_system config — the agent and provider APIs before they write, ``Trigger.clean()`` on
every write — names the same ``<prefix>.<key>`` and the watcher never meets a watch_path
outside FILE_WATCH_ROOTS."""

from django.conf import settings

from triggers import catalog
from watcher.folder_config import WatchConfigInvalid, watch_config_parse


def watch_config_errors(config: dict) -> dict[str, str]:
    """{key: message} for each setting of a file_system config the watcher refuses."""
    try:
        watch_config_parse(config, roots=settings.FILE_WATCH_ROOTS)
    except WatchConfigInvalid as invalid:
        return {key.removeprefix("config."): message for key, message in invalid.errors.items()}
    return {}


catalog.config_check_register(catalog.FILE_SYSTEM, watch_config_errors)
