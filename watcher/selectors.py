"""The watcher's reads: which triggers to watch, and what their ledgers hold."""

from datetime import datetime

from triggers.catalog import FILE_SYSTEM
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from watcher.models import Ledger, LedgerEntry


def watched_triggers_qs():
    """The triggers the watcher watches: active file_system triggers."""
    return Trigger.objects.filter(
        provider_id=FILE_SYSTEM.provider_id,
        provider_trigger_id=FILE_SYSTEM.trigger_id,
        status=TriggerStatus.ACTIVE,
    ).order_by()


def watched_trigger_versions() -> dict[int, tuple[str, datetime]]:
    """id -> (config_hash, updated_at) of every watched trigger: what the watcher polls every
    second to see triggers created, changed, disabled or deleted."""
    rows = watched_triggers_qs().values_list("id", "config_hash", "updated_at")
    return {trigger_id: (config_hash, updated_at) for trigger_id, config_hash, updated_at in rows}


def watched_triggers(*, ids) -> list[Trigger]:
    return list(watched_triggers_qs().filter(pk__in=ids))


def ledger_get(*, trigger_id: int) -> Ledger | None:
    return Ledger.objects.filter(trigger_id=trigger_id).first()


def ledger_states(*, trigger_id: int) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file in the trigger's ledger."""
    rows = LedgerEntry.objects.filter(ledger_id=trigger_id).values_list(
        "relative_path", "size", "mtime_ns"
    )
    return {path: (size, mtime_ns) for path, size, mtime_ns in rows}
