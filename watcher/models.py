"""The ledger: what the watcher last recorded of each file_system trigger's folder.

Events are lost while the watcher is down; the ledger is what lets it catch up. On start, and
whenever a trigger is (re)configured, the folder is scanned and compared with the ledger: a
file that is not in it was created, one whose size or mtime differ was modified, a ledger
entry without its file was deleted (docs/watcher.md).
"""

from django.db import models

from watcher.choices import LedgerEvent


class Ledger(models.Model):
    """One per watched trigger (its primary key is the trigger's): when its entries started
    and for which scope. Dropped when the trigger stops being active, so a trigger that is
    enabled again starts afresh rather than firing what arrived while it was off."""

    trigger = models.OneToOneField(
        "triggers.Trigger", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # folder_config.WatchConfig.scan_key: another folder, patterns or depth start it over.
    scan_key = models.CharField(max_length=64)
    # Files modified after this fire as created at the first scan; older ones were the
    # folder's content before the trigger was set up, and are only recorded.
    started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Ledger of trigger #{self.trigger_id}"


class LedgerEntry(models.Model):
    """A file as last recorded: its path below the watched folder, size and mtime, and the
    event that recorded it (and the execution it fired, if it fired one)."""

    # The ledger's key is the trigger's id, so entries are found by trigger without a join.
    ledger = models.ForeignKey(
        Ledger, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    relative_path = models.TextField()
    size = models.BigIntegerField()
    mtime_ns = models.BigIntegerField()
    last_event = models.CharField(max_length=16, choices=LedgerEvent.choices)
    # The execution this version fired; null when the trigger's events do not include the
    # event, the firing was refused (a limit), or it was recorded by the first scan.
    execution_id = models.UUIDField(null=True, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["ledger", "relative_path"], name="ledger_entry_once_per_path"
            ),
        ]

    def __str__(self) -> str:
        return self.relative_path
