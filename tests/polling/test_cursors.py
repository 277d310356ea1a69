"""Which items are new, and the cursor a poll leaves: pure, no database."""

import pytest

from polling import cursors
from polling.cursors import Item


def items(*specs) -> list[Item]:
    """items(("a", "2026-12-01T10:00:00Z"), ...) in list order (newest first, as feeds are)."""
    return [Item(key=key, payload={"id": key}, order=order, position=i)
            for i, (key, order) in enumerate(specs)]  # fmt: skip


def keys(found) -> list[str]:
    return [item.key for item in found]


def test_the_first_poll_fires_nothing_and_remembers_every_item():
    listed = items(("c", "2026-12-01T10:03:00Z"), ("b", "2026-12-01T10:02:00Z"),
                   ("a", "2026-12-01T10:01:00Z"))  # fmt: skip

    plan = cursors.plan(None, listed)
    cursor = cursors.advanced(None, listed)

    assert plan.first_poll and plan.new == []
    assert cursor["seen_ids"] == ["c", "b", "a"]
    assert (cursor["last_item_id"], cursor["oldest_item_at"]) == ("c", "2026-12-01T10:01:00Z")


def test_the_first_poll_may_fire_the_newest_n_oldest_first():
    listed = items(("c", 3), ("b", 2), ("a", 1))

    assert keys(cursors.plan(None, listed, initial_items=2).new) == ["b", "c"]


def test_new_items_are_the_unseen_ones_fired_oldest_first():
    cursor = cursors.advanced(None, items(("b", 2), ("a", 1)))
    listed = items(("d", 4), ("c", 3), ("b", 2), ("a", 1))

    assert keys(cursors.plan(cursor, listed).new) == ["c", "d"]


def test_an_old_item_that_comes_back_is_not_new():
    cursor = cursors.advanced(None, items(("c", 30), ("b", 20)))

    # z left the list long ago (or was never in the part seen): older than all seen.
    listed = items(("d", 40), ("c", 30), ("b", 20), ("z", 5))

    assert keys(cursors.plan(cursor, listed).new) == ["d"]


def test_a_late_item_dated_inside_the_list_seen_is_new():
    cursor = cursors.advanced(None, items(("c", 30), ("a", 10)))

    assert keys(cursors.plan(cursor, items(("c", 30), ("b", 20), ("a", 10))).new) == ["b"]


def test_without_order_values_the_list_is_newest_first():
    cursor = cursors.advanced(None, items(("a", None)))

    plan = cursors.plan(cursor, items(("c", None), ("b", None), ("a", None)))

    assert keys(plan.new) == ["b", "c"]


def test_deferred_items_stay_unseen_for_the_next_poll():
    cursor = cursors.advanced(None, items(("a", 1)))
    listed = items(("c", 3), ("b", 2), ("a", 1))

    after = cursors.advanced(cursor, listed, deferred={"c"})

    assert after["seen_ids"] == ["b", "a"]
    assert keys(cursors.plan(after, listed).new) == ["c"]


def test_items_that_leave_the_list_stay_remembered_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(cursors, "SEEN_IDS_KEPT", 3)
    cursor = cursors.advanced(None, items(("b", 2), ("a", 1)))

    cursor = cursors.advanced(cursor, items(("d", 4), ("c", 3)))

    assert cursor["seen_ids"] == ["d", "c", "b"]


@pytest.mark.parametrize(
    ("earlier", "later"),
    [(1, 2), (1.5, 2), ("2026-12-01T10:00:00Z", "2026-12-01T10:00:01+00:00"),
     ("2026-12-01T11:00:00+01:00", "2026-12-01T10:00:01Z"), ("apple", "banana"),
     (None, 0)],
)  # fmt: skip
def test_order_values_compare_by_what_they_mean(earlier, later):
    assert cursors.order_key(earlier) < cursors.order_key(later)


@pytest.mark.parametrize("raw", [None, "", "  ", {"id": 1}, [1], True])
def test_a_value_that_cannot_identify_an_item_is_no_key(raw):
    assert cursors.item_key(raw) is None


def test_a_long_id_is_keyed_by_its_digest():
    key = cursors.item_key("https://example.com/" + "x" * 500)

    assert key.startswith("sha256:") and len(key) < 255
    assert cursors.item_key(42) == "42"
