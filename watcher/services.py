"""Every write of the watcher: ledgers, firings of settled file changes, stale triggers."""

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from executions.choices import ExecutionType
from executions.services.firing import FiringRefused, execution_fire
from triggers import event_rules
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from triggers.services import trigger_count_filtered, triggers_mark_stale
from watcher.changes import (
    FileChange,
    Version,
    change_event,
    execution_input,
    idempotency_key,
)
from watcher.choices import FileEvent, LedgerEvent
from watcher.folder_config import WatchConfig
from watcher.models import Ledger, LedgerEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """One settled change, recorded: the event, and what firing made of it."""

    relative_path: str
    event: str
    execution_id: uuid.UUID | None = None  # None: not fired
    duplicate: bool = False  # an earlier observation of this version fired it
    refused: str | None = None  # the firing rule that refused it
    wanted: bool = True  # False: the trigger's events do not include this event
    filtered: str | None = None  # why the trigger's config.filter turned it away


@transaction.atomic
def ledger_start(
    *, trigger_id: int, scan_key: str, files: dict[str, Version], since: datetime
) -> list[str]:
    """Start the trigger's ledger over from ``files`` (a scan of its folder).

    Files last modified before ``since`` (when the trigger was created, enabled or given
    this folder/patterns) were there before the trigger: recorded as ``existing``, never
    fired. The newer ones arrived after it, perhaps while no watcher ran: they are not
    recorded but returned, for the watcher to settle and fire as created.
    """
    Ledger.objects.update_or_create(
        trigger_id=trigger_id, defaults={"scan_key": scan_key, "started_at": since}
    )
    LedgerEntry.objects.filter(ledger_id=trigger_id).delete()
    since_ns = int(since.timestamp() * 1_000_000) * 1000
    now = timezone.now()
    existing, newer = [], []
    for relative_path, (size, mtime_ns) in files.items():
        if mtime_ns <= since_ns:
            existing.append(
                LedgerEntry(
                    ledger_id=trigger_id, relative_path=relative_path, size=size,
                    mtime_ns=mtime_ns, last_event=LedgerEvent.EXISTING, recorded_at=now,
                )
            )  # fmt: skip
        else:
            newer.append(relative_path)
    LedgerEntry.objects.bulk_create(existing, batch_size=1000)
    return sorted(newer)


def ledgers_drop(*, trigger_ids: Iterable[int]) -> int:
    """Forget what the ledgers of these (no longer watched) triggers hold."""
    deleted, _ = Ledger.objects.filter(trigger_id__in=list(trigger_ids)).delete()
    return deleted


def ledgers_drop_unwatched() -> int:
    """Drop the ledgers of triggers that are not active (changed while no watcher ran)."""
    deleted, _ = Ledger.objects.exclude(trigger__status=TriggerStatus.ACTIVE).delete()
    return deleted


def triggers_folder_unusable(*, trigger_ids: Sequence[int], reason: str) -> int:
    """These triggers' folder is gone (or unreadable, or no longer inside the roots): they
    become stale with ``reason``, and their ledgers are dropped."""
    with transaction.atomic():
        stale = triggers_mark_stale(
            triggers=Trigger.objects.filter(pk__in=trigger_ids), reason=reason
        )
        ledgers_drop(trigger_ids=trigger_ids)
    return stale


@dataclass(frozen=True)
class TriggerChanges:
    """Settled changes of one trigger's files, as the watcher saw them with this config."""

    trigger_id: int
    config_hash: str
    config: WatchConfig
    changes: Sequence[FileChange]


@transaction.atomic
def file_changes_record(*, batches: Sequence[TriggerChanges]) -> dict[int, list[Recorded] | None]:
    """Record settled file changes, in one transaction: each change that is an event its
    trigger wants fires an execution (the firing rules decide; the idempotency key makes a
    repeated observation return the first execution), and the ledger takes the new version.

    Per trigger, what was recorded; None for a trigger that is no longer active with that
    config, or whose ledger is gone: nothing of it is recorded, the watcher reconfigures it.
    """
    ids = [batch.trigger_id for batch in batches]
    with_ledger = set(
        Ledger.objects.filter(trigger_id__in=ids).values_list("trigger_id", flat=True)
    )
    triggers = {
        trigger.pk: trigger
        for trigger in Trigger.objects.filter(pk__in=with_ledger, status=TriggerStatus.ACTIVE)
    }
    paths = {change.relative_path for batch in batches for change in batch.changes}
    known = {
        (entry.ledger_id, entry.relative_path): entry
        for entry in LedgerEntry.objects.filter(
            ledger_id__in=list(triggers), relative_path__in=paths
        )
    }
    now = timezone.now()
    results: dict[int, list[Recorded] | None] = {}
    upserts, deletions = [], []
    for batch in batches:
        trigger = triggers.get(batch.trigger_id)
        if trigger is None or trigger.config_hash != batch.config_hash:
            results[batch.trigger_id] = None
            continue
        recorded = results[batch.trigger_id] = []
        for change in batch.changes:
            entry = known.get((trigger.pk, change.relative_path))
            verdict = change_event(entry and (entry.size, entry.mtime_ns), change.state)
            if verdict is None:
                continue
            event, version = verdict
            outcome = _fire(trigger, batch.config, change.relative_path, event, version)
            recorded.append(outcome)
            if event == FileEvent.DELETED:
                deletions.append((trigger.pk, change.relative_path))
            else:
                upserts.append(
                    LedgerEntry(
                        ledger_id=trigger.pk, relative_path=change.relative_path,
                        size=version[0], mtime_ns=version[1], last_event=event,
                        execution_id=outcome.execution_id, recorded_at=now,
                    )
                )  # fmt: skip
    if upserts:
        LedgerEntry.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["ledger", "relative_path"],
            update_fields=["size", "mtime_ns", "last_event", "execution_id", "recorded_at"],
        )
    for trigger_id, relative_path in deletions:
        LedgerEntry.objects.filter(ledger_id=trigger_id, relative_path=relative_path).delete()
    return results


def _fire(trigger: Trigger, config: WatchConfig, relative_path: str, event, version) -> Recorded:
    if event not in config.events:
        return Recorded(relative_path, event, wanted=False)
    input_data = execution_input(config, relative_path, event, version)
    reason = event_rules.filtered_reason(event_rules.event_filter(trigger.config), input_data)
    if reason is not None:  # config.filter: recorded as seen, counted, not run
        trigger_count_filtered(trigger_id=trigger.pk)
        return Recorded(relative_path, event, filtered=reason)
    try:
        firing = execution_fire(
            trigger=trigger,
            execution_type=ExecutionType.FILE_SYSTEM,
            input_data=input_data,
            idempotency_key=idempotency_key(event, relative_path, version),
        )
    except FiringRefused as refused:
        return Recorded(relative_path, event, refused=refused.reason)
    return Recorded(
        relative_path, event, execution_id=firing.execution.execution_id,
        duplicate=not firing.created,
    )  # fmt: skip
