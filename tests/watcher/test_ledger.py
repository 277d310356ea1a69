"""The ledger and the firing of settled changes (watcher.services), on the database."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import Execution
from triggers.choices import TriggerStatus
from watcher import selectors, services
from watcher.changes import FileChange
from watcher.folder_config import watch_config_parse
from watcher.models import Ledger, LedgerEntry

NOW_NS = time.time_ns()
HOUR_NS = 3600 * 10**9


@pytest.fixture
def folder_trigger(acme, make_trigger, watch_root):
    def make(**config):
        config = {"watch_path": str(watch_root / "in"), **config}
        trigger = make_trigger(acme, "file_system", config=config)
        return trigger, watch_config_parse(config, roots=[watch_root])

    return make


def record(trigger, watch, *changes):
    batch = services.TriggerChanges(
        trigger_id=trigger.pk, config_hash=trigger.config_hash, config=watch,
        changes=[FileChange(path, state) for path, state in changes],
    )  # fmt: skip
    return services.file_changes_record(batches=[batch])[trigger.pk]


def test_a_new_ledger_records_older_files_and_returns_the_newer_ones(folder_trigger):
    trigger, watch = folder_trigger()
    files = {"old.csv": (1, NOW_NS - HOUR_NS), "new.csv": (2, NOW_NS + HOUR_NS)}

    newer = services.ledger_start(
        trigger_id=trigger.pk, scan_key=watch.scan_key, files=files, since=timezone.now()
    )

    assert newer == ["new.csv"]
    assert selectors.ledger_states(trigger_id=trigger.pk) == {"old.csv": files["old.csv"]}
    assert LedgerEntry.objects.get().last_event == "existing"
    assert not Execution.objects.exists()


def test_changes_fire_the_wanted_events_and_the_ledger_follows(folder_trigger):
    trigger, watch = folder_trigger(events=["created", "deleted"])
    services.ledger_start(trigger_id=trigger.pk, scan_key=watch.scan_key,
                          files={"a.csv": (1, 100)}, since=timezone.now())  # fmt: skip

    outcomes = record(trigger, watch, ("a.csv", (2, 200)), ("b.csv", (3, 300)), ("c.csv", None))

    assert [(o.relative_path, o.event, o.wanted) for o in outcomes] == [
        ("a.csv", "modified", False), ("b.csv", "created", True),
    ]  # fmt: skip
    assert selectors.ledger_states(trigger_id=trigger.pk) == {"a.csv": (2, 200), "b.csv": (3, 300)}
    [execution] = Execution.objects.all()
    assert execution.input_data["path"] == "b.csv"
    assert LedgerEntry.objects.get(relative_path="b.csv").execution_id == execution.execution_id

    [deleted] = record(trigger, watch, ("b.csv", None))

    assert (deleted.event, deleted.execution_id is not None) == ("deleted", True)
    assert Execution.objects.latest("id").input_data["size"] == 3  # the last known version
    assert set(selectors.ledger_states(trigger_id=trigger.pk)) == {"a.csv"}


def test_the_same_observation_twice_fires_once(folder_trigger):
    trigger, watch = folder_trigger()
    services.ledger_start(trigger_id=trigger.pk, scan_key=watch.scan_key, files={},
                          since=timezone.now())  # fmt: skip
    [first] = record(trigger, watch, ("a.csv", (1, 100)))
    LedgerEntry.objects.all().delete()  # as if the ledger update had been lost

    [again] = record(trigger, watch, ("a.csv", (1, 100)))

    assert (again.execution_id, again.duplicate) == (first.execution_id, True)
    assert Execution.objects.count() == 1


def test_a_refused_firing_is_recorded_and_not_retried(folder_trigger):
    trigger, watch = folder_trigger()
    trigger.max_executions_per_hour = 1
    trigger.save()
    services.ledger_start(trigger_id=trigger.pk, scan_key=watch.scan_key, files={},
                          since=timezone.now())  # fmt: skip

    outcomes = record(trigger, watch, ("a.csv", (1, 1)), ("b.csv", (1, 2)))

    assert outcomes[1].refused and "limit" in outcomes[1].refused.lower()
    assert Execution.objects.count() == 1
    assert set(selectors.ledger_states(trigger_id=trigger.pk)) == {"a.csv", "b.csv"}


def test_nothing_is_recorded_for_a_trigger_changed_or_disabled_meanwhile(folder_trigger):
    trigger, watch = folder_trigger()
    services.ledger_start(trigger_id=trigger.pk, scan_key=watch.scan_key, files={},
                          since=timezone.now())  # fmt: skip
    stale_hash = trigger.config_hash
    trigger.config_hash = "0" * 64

    assert record(trigger, watch, ("a.csv", (1, 1))) is None
    trigger.config_hash = stale_hash
    trigger.status = TriggerStatus.INACTIVE
    trigger.save()
    assert record(trigger, watch, ("a.csv", (1, 1))) is None
    assert not Execution.objects.exists()


def test_unusable_folders_make_triggers_stale_and_drop_their_ledgers(folder_trigger):
    trigger, watch = folder_trigger()
    other, _ = folder_trigger(patterns=["*.txt"])
    for each in (trigger, other):
        services.ledger_start(trigger_id=each.pk, scan_key=watch.scan_key, files={},
                              since=timezone.now() - timedelta(minutes=1))  # fmt: skip
    other.status = TriggerStatus.INACTIVE
    other.save()

    services.triggers_folder_unusable(trigger_ids=[trigger.pk], reason="The folder is gone.")
    trigger.refresh_from_db()

    assert (trigger.status, trigger.error_message) == ("stale", "The folder is gone.")
    assert list(Ledger.objects.values_list("trigger_id", flat=True)) == [other.pk]
    assert services.ledgers_drop_unwatched() >= 1
    assert not Ledger.objects.exists()


def test_a_filter_records_changes_it_does_not_want_without_firing_and_counts_them(
    folder_trigger,
):
    trigger, watch = folder_trigger(filter="ends_with(path, '.csv')")
    services.ledger_start(trigger_id=trigger.pk, scan_key=watch.scan_key, files={},
                          since=timezone.now())  # fmt: skip

    outcomes = record(trigger, watch, ("a.csv", (1, 1)), ("b.tmp", (1, 2)))

    assert [(o.relative_path, o.filtered is not None) for o in outcomes] == [
        ("a.csv", False), ("b.tmp", True),
    ]  # fmt: skip
    [execution] = Execution.objects.all()
    assert execution.input_data["path"] == "a.csv"
    trigger.refresh_from_db()
    assert trigger.filtered_count == 1
    assert set(selectors.ledger_states(trigger_id=trigger.pk)) == {"a.csv", "b.tmp"}
