"""Which of a source's items are new, and the cursor a poll leaves (docs/polling.md), pure.

A cursor remembers what the source held at the last committed poll:

- ``seen_ids``: the items' ids, newest first (the current list, then older ones it still
  remembers; at most SEEN_IDS_KEPT) — an item whose id is in it never fires again;
- ``oldest_item_at``: the oldest order value (an RSS entry's published time, the JSON
  ``order_field``) of the lists seen — an unseen item older than that is an old one that
  came back (an edited post, a list that shrank and grew), not a new one;
- ``last_item_id``, ``last_item_at``: the newest item, for people to read.

An item is new when its id was not seen and it is not older than ``oldest_item_at``. New
items fire oldest first: by order value, else (lists are newest first) from the end of the
list. A poll with no cursor yet (the trigger's first) fires none of the items already there,
unless ``initial_items`` asks for the newest N.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SEEN_IDS_KEPT = 500
# Of a source's list, only the first this many items are read (per poll).
MAX_ITEMS = 500
_KEY_MAX_LENGTH = 200


@dataclass(frozen=True)
class Item:
    """One item of a source, as the cursor sees it."""

    key: str  # the provider's id, as the execution's idempotency key (item_key)
    payload: Any  # what the execution's input carries as ``item``
    order: Any = None  # its order value, if the source gives one
    position: int = 0  # its place in the source's list
    raw_id: Any = None  # the id as the source wrote it


@dataclass(frozen=True)
class Plan:
    new: list[Item]  # to fire, oldest first
    first_poll: bool


def item_key(raw_id: Any) -> str | None:
    """An item id as an idempotency key: its text (a long one by its SHA-256); None when the
    value cannot identify an item (absent, empty, an object)."""
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int | float):
        return None
    text = str(raw_id).strip()
    if not text:
        return None
    if len(text) > _KEY_MAX_LENGTH:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def order_key(value: Any) -> tuple:
    """A sortable form of an order value: numbers and ISO 8601 times by their value (a time
    without a zone is UTC), other text by itself; None first."""
    if value is None or isinstance(value, bool):
        return (0, 0.0)
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return (2, value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (1, moment.timestamp())
    return (0, 0.0)


def _age(item: Item) -> tuple:
    return (order_key(item.order), -item.position)


def oldest_first(items: list[Item]) -> list[Item]:
    return sorted(items, key=_age)


def newest_first(items: list[Item]) -> list[Item]:
    return sorted(items, key=_age, reverse=True)


def is_first_poll(cursor: Any) -> bool:
    return not isinstance(cursor, dict) or not isinstance(cursor.get("seen_ids"), list)


def plan(cursor: Any, items: list[Item], *, initial_items: int = 0) -> Plan:
    """The items of this poll's list to fire, oldest first."""
    if is_first_poll(cursor):
        newest = newest_first(items)[:initial_items] if initial_items > 0 else []
        return Plan(new=oldest_first(newest), first_poll=True)
    seen = set(cursor["seen_ids"])
    floor = cursor.get("oldest_item_at")
    new = [
        item
        for item in items
        if item.key not in seen
        and not (floor is not None and item.order is not None and _older(item.order, floor))
    ]
    return Plan(new=oldest_first(new), first_poll=False)


def _older(order: Any, floor: Any) -> bool:
    return order_key(order) < order_key(floor)


def advanced(cursor: Any, items: list[Item], *, deferred: set[str] = frozenset()) -> dict:
    """The cursor after a poll of ``items`` that fired every new item but ``deferred`` (a
    firing rule refused them: a later poll tries them again, so they are not seen)."""
    previous = {} if is_first_poll(cursor) else cursor
    listed = [item for item in newest_first(items) if item.key not in deferred]
    seen: list[str] = []
    known: set[str] = set()
    for key in [item.key for item in listed] + list(previous.get("seen_ids", [])):
        if key not in known and key not in deferred:
            known.add(key)
            seen.append(key)
    orders = [item.order for item in items if item.order is not None]
    floor = previous.get("oldest_item_at")
    if orders:
        oldest = min(orders, key=order_key)
        floor = oldest if floor is None or _older(floor, oldest) else floor
    newest = listed[0] if listed else None
    return {
        "last_item_id": newest.key if newest else previous.get("last_item_id"),
        "last_item_at": newest.order if newest else previous.get("last_item_at"),
        "oldest_item_at": floor,
        "seen_ids": seen[:SEEN_IDS_KEPT],
    }
