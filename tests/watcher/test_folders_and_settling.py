"""Reading a folder (never out of it through a symlink) and the settle timer, without the
database."""

import os

from watcher.folders import file_state, relative_to, scan
from watcher.settling import Settler


def write(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_scan_lists_the_wanted_regular_files_with_size_and_mtime(tmp_path):
    write(tmp_path / "a.csv", "abc")
    write(tmp_path / "b.txt")
    write(tmp_path / "sub" / "c.csv")
    os.mkfifo(tmp_path / "pipe.csv")

    flat = scan(str(tmp_path), recursive=False, wanted=lambda p: p.endswith(".csv"))
    deep = scan(str(tmp_path), recursive=True, wanted=lambda p: p.endswith(".csv"))

    assert flat == {"a.csv": (3, os.stat(tmp_path / "a.csv").st_mtime_ns)}
    assert set(deep) == {"a.csv", "sub/c.csv"}


def test_symlinks_out_of_the_folder_are_ignored_and_symlinked_folders_not_entered(tmp_path):
    folder, outside = tmp_path / "in", tmp_path / "outside"
    write(outside / "secret.csv")
    write(folder / "real.csv", "12")
    (folder / "escape.csv").symlink_to(outside / "secret.csv")
    (folder / "dir").symlink_to(outside)
    (folder / "inner.csv").symlink_to(folder / "real.csv")
    folder_path = os.path.realpath(folder)

    found = scan(folder_path, recursive=True, wanted=lambda p: True)

    assert set(found) == {"real.csv", "inner.csv"}  # a link inside the folder is followed
    assert found["inner.csv"] == found["real.csv"]
    assert file_state(folder_path, "escape.csv") is None
    assert file_state(folder_path, "dir/secret.csv") is None
    assert file_state(folder_path, "missing.csv") is None
    assert file_state(folder_path, "real.csv")[0] == 2


def test_relative_to_is_below_the_folder_only(tmp_path):
    assert relative_to("/srv/in", "/srv/in/a/b.csv") == "a/b.csv"
    assert relative_to("/srv/in", "/srv/inbox/a.csv") is None
    assert relative_to("/srv/in", "/srv/in") is None


def test_a_change_settles_once_after_it_held_still():
    settler, states = Settler(), {"k": (1, 10)}
    settler.observe("k", (1, 10), now=0.0, settle=1.0)
    settler.observe("k", (2, 20), now=0.5, settle=1.0)  # a second chunk: the wait starts over
    states["k"] = (2, 20)
    settler.observe("k", (2, 20), now=0.9, settle=1.0)  # the same state keeps its wait

    assert settler.take_settled(now=1.4, stat=states.get) == []
    assert settler.next_due() == 1.5
    [settled] = settler.take_settled(now=1.5, stat=states.get)
    assert (settled.key, settled.state) == ("k", (2, 20))
    assert len(settler) == 0


def test_a_change_seen_at_the_last_look_waits_again():
    settler, states = Settler(), {"k": (1, 10)}
    settler.observe("k", (1, 10), now=0.0, settle=1.0)
    states["k"] = (5, 50)  # written without an event reaching us yet

    assert settler.take_settled(now=1.0, stat=states.get) == []
    assert settler.next_due() == 2.0
    assert [s.state for s in settler.take_settled(now=2.0, stat=states.get)] == [(5, 50)]


def test_a_failed_recording_is_retried_and_a_forgotten_trigger_dropped():
    settler, states = Settler(), {(1, "a"): (1, 1), (2, "b"): (2, 2)}
    for key, state in states.items():
        settler.observe(key, state, now=0.0, settle=0.0)
    settled = settler.take_settled(now=0.0, stat=states.get)

    settler.retry(settled, at=1.0)
    settler.forget(lambda key: key[0] == 2)

    assert settler.take_settled(now=0.5, stat=states.get) == []
    assert [s.key for s in settler.take_settled(now=1.0, stat=states.get)] == [(1, "a")]
