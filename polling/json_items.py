"""A JSON answer as items (docs/polling.md), pure: ``items_path`` (a JMESPath; the answer
itself by default) leads to the list, ``id_field`` to each item's id, ``order_field`` (if
given) to the value that orders them. The answer must be JSON PostgreSQL can store
(api/storable.py); an item without an id is skipped, a list none of whose items has one is
a failure (the id field is wrong)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jmespath.exceptions import JMESPathError

from api.storable import UnstorableJSON, loads
from polling.cursors import MAX_ITEMS, Item, item_key
from polling.errors import PollFailed
from triggers.jmespath_bounded import DEFAULT_MAX_BYTES, Evaluation, compile_expression


@lru_cache(maxsize=256)
def _compiled(expression: str):
    return compile_expression(expression)


def _search(evaluation: Evaluation, expression: str, value: Any) -> Any:
    try:
        return evaluation.search(_compiled(expression), value)
    except JMESPathError as error:
        raise PollFailed(f"'{expression}' cannot be applied: {error}") from None


def read_json_items(
    body: bytes, *, items_path: str = "@", id_field: str = "id", order_field: str | None = None
) -> list[Item]:
    try:
        answer = loads(body)
    except UnstorableJSON as problem:
        raise PollFailed(f"The answer cannot be stored: {problem}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise PollFailed(f"The answer is not JSON: {error}") from None
    # One budget for every expression on this answer (triggers/jmespath_bounded.py).
    evaluation = Evaluation(max_bytes=max(len(body), DEFAULT_MAX_BYTES), input_bytes=len(body))
    found = _search(evaluation, items_path, answer)
    if not isinstance(found, list):
        kind = "nothing" if found is None else type(found).__name__
        raise PollFailed(f"items_path '{items_path}' leads to {kind}, not a list.")
    items = []
    for position, raw in enumerate(found[:MAX_ITEMS]):
        raw_id = _search(evaluation, id_field, raw)
        key = item_key(raw_id)
        if key is None:
            continue
        order = _search(evaluation, order_field, raw) if order_field else None
        if not isinstance(order, str | int | float) or isinstance(order, bool):
            order = None
        items.append(Item(key=key, payload=raw, order=order, position=position, raw_id=raw_id))
    if found and not items:
        raise PollFailed(f"No item of the list has an id at id_field '{id_field}'.")
    return items
