"""A file_system trigger's config and patterns, without the database."""

import os

import pytest

from watcher.changes import change_event, execution_input, idempotency_key, iso_utc
from watcher.folder_config import WatchConfigInvalid, watch_config_parse
from watcher.patterns import compile_patterns


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    return root


def errors_of(config, roots) -> dict:
    with pytest.raises(WatchConfigInvalid) as invalid:
        watch_config_parse(config, roots=roots)
    return invalid.value.errors


def test_it_fills_in_the_defaults(root):
    config = watch_config_parse({"watch_path": str(root / "in")}, roots=[root])

    assert config.folder == os.path.realpath(root / "in")
    assert config.patterns == ("*",)
    assert config.events == {"created"}
    assert (config.recursive, config.settle_seconds) == (False, 1.0)


def test_it_accepts_a_full_config_and_the_root_itself(root):
    config = watch_config_parse(
        {"watch_path": str(root), "patterns": ["*.csv", "in/*"], "events": ["deleted", "modified"],
         "recursive": True, "settle_seconds": 0},
        roots=[root],
    )  # fmt: skip

    assert config.events == {"deleted", "modified"}
    assert (config.recursive, config.settle_seconds) == (True, 0.0)


@pytest.mark.parametrize(
    "watch_path",
    ["/etc", "{root}/in/../..", "{root}-other", "relative/in", "", 42, None],
)
def test_a_watch_path_outside_the_roots_is_refused(root, watch_path):
    if isinstance(watch_path, str):
        watch_path = watch_path.format(root=root)
    errors = errors_of({"watch_path": watch_path}, [root])

    assert list(errors) == ["config.watch_path"]
    assert str(root) in errors["config.watch_path"]  # it names the roots


def test_a_symlink_out_of_the_root_is_refused_without_naming_its_target(root, tmp_path, caplog):
    """Where the link leads is the operator's to know (issue 25, finding 7): the log has it,
    the tenant's error does not."""
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")

    with caplog.at_level("WARNING", logger="watcher.folder_config"):
        errors = errors_of({"watch_path": str(root / "escape")}, [root])

    message = errors["config.watch_path"]
    assert f"'{root / 'escape'}' is a symlink outside the watched roots" in message
    assert str(tmp_path / "outside") not in message
    assert str(tmp_path / "outside") in caplog.text


def test_a_symlinked_root_is_resolved_too(root, tmp_path):
    (tmp_path / "alias").symlink_to(root)

    config = watch_config_parse({"watch_path": str(tmp_path / "alias" / "in")}, roots=[root])

    assert config.folder == os.path.realpath(root / "in")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("patterns", "*.csv"), ("patterns", []), ("patterns", [""]), ("patterns", [3]),
        ("patterns", ["/abs/*.csv"]), ("patterns", ["x" * 256]),
        ("events", []), ("events", ["renamed"]), ("events", "created"),
        ("recursive", "yes"), ("recursive", 1),
        ("settle_seconds", -1), ("settle_seconds", 3601), ("settle_seconds", True),
        ("settle_seconds", "1"), ("settle_seconds", float("nan")),
    ],
)  # fmt: skip
def test_a_wrong_type_or_value_names_its_key(root, key, value):
    errors = errors_of({"watch_path": str(root), key: value}, [root])

    assert list(errors) == [f"config.{key}"]


def test_patterns_match_the_relative_path_fnmatch_style():
    matches = compile_patterns(("*.csv", "in/report-?.txt"))

    assert matches("a.csv") and matches("2026/12/a.csv")  # * crosses /
    assert matches("in/report-1.txt") and not matches("in/report-10.txt")
    assert not matches("a.CSV")  # case-sensitive
    assert not matches("a.csv.tmp")


def test_a_non_recursive_trigger_wants_only_files_directly_in_its_folder(root):
    flat = watch_config_parse({"watch_path": str(root), "patterns": ["*.csv"]}, roots=[root])
    deep = watch_config_parse(
        {"watch_path": str(root), "patterns": ["*.csv"], "recursive": True}, roots=[root]
    )

    assert flat.wants("a.csv") and not flat.wants("sub/a.csv")
    assert deep.wants("a.csv") and deep.wants("sub/a.csv")


def test_the_event_is_decided_against_the_ledger():
    assert change_event(None, (3, 100)) == ("created", (3, 100))
    assert change_event((3, 100), (5, 200)) == ("modified", (5, 200))
    assert change_event((3, 100), (3, 100)) is None
    assert change_event((3, 100), None) == ("deleted", (3, 100))
    assert change_event(None, None) is None


def test_the_idempotency_key_identifies_event_path_size_and_mtime():
    key = idempotency_key("created", "a.csv", (3, 100))

    assert key.startswith("file:") and len(key) <= 255
    assert key == idempotency_key("created", "a.csv", (3, 100))
    others = [
        idempotency_key("modified", "a.csv", (3, 100)),
        idempotency_key("created", "b.csv", (3, 100)),
        idempotency_key("created", "a.csv", (4, 100)),
        idempotency_key("created", "a.csv", (3, 101)),
    ]
    assert key not in others and len(set(others)) == 4


def test_the_input_names_the_file_event_size_time_and_folder(root):
    config = watch_config_parse({"watch_path": str(root)}, roots=[root])

    data = execution_input(config, "sub/a.csv", "created", (12, 1_764_668_400_123_456_789))

    assert data == {
        "event": "created",
        "path": "sub/a.csv",
        "watch_path": str(root),
        "size": 12,
        "modified_at": "2025-12-02T09:40:00.123456Z",
    }
    assert iso_utc(0) == "1970-01-01T00:00:00.000000Z"
