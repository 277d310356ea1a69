"""What a polling trigger's ``config`` says about its polls (docs/polling.md), pure.

- ``polling_frequency``: milliseconds between two polls, a number or a string of digits as
  the provider API's clients send it (``"10000"``); 60 s when absent. The poller never polls
  more often than ``POLLING_MIN_INTERVAL_SECONDS`` allows, whatever is stored here.
- ``initial_items``: how many of the items already there the first poll fires (default 0:
  the first poll only sets the cursor).
- ``max_failure_count``: consecutive failures (failed polls, or failed executions) that
  freeze the trigger, instead of ``TRIGGER_FAILURE_THRESHOLD`` (defined once, in
  triggers/config_keys.py).

The catalog's polling entries (``rss``, ``http``) share these keys' JSON Schema
(``POLLING_PROPERTIES``).
"""

from __future__ import annotations

import math
from typing import Any

from triggers.config_keys import MAX_FAILURE_COUNT_SCHEMA

DEFAULT_INTERVAL_SECONDS = 60
MAX_INITIAL_ITEMS = 50
_MIN_FREQUENCY_MS = 1000
_MAX_FREQUENCY_MS = 7 * 24 * 3600 * 1000

POLLING_PROPERTIES: dict[str, Any] = {
    "polling_frequency": {
        "title": "Polling frequency",
        "description": (
            "Milliseconds between two polls (default 60000, one minute); never more often "
            "than the service's POLLING_MIN_INTERVAL_SECONDS (60 s by default) allows."
        ),
        "anyOf": [
            {"type": "integer", "minimum": _MIN_FREQUENCY_MS, "maximum": _MAX_FREQUENCY_MS},
            {"type": "string", "pattern": "^[1-9][0-9]{3,8}$"},
        ],
        "examples": ["60000"],
    },
    "initial_items": {
        "type": "integer",
        "title": "Items fired on the first poll",
        "description": (
            "The first poll sets the cursor and fires none of the items already there; "
            f"give N (at most {MAX_INITIAL_ITEMS}) to fire the newest N of them."
        ),
        "minimum": 0,
        "maximum": MAX_INITIAL_ITEMS,
    },
    "max_failure_count": {
        **MAX_FAILURE_COUNT_SCHEMA,
        "description": (
            "Consecutive failed polls (or failed executions) after which the trigger is "
            "frozen as FAILED; the service's TRIGGER_FAILURE_THRESHOLD when absent or null."
        ),
    },
}


def interval_seconds(config: Any) -> int:
    """The interval ``config.polling_frequency`` asks for, in whole seconds (rounded up);
    DEFAULT_INTERVAL_SECONDS when it is absent or unreadable (the schema refuses those)."""
    value = config.get("polling_frequency") if isinstance(config, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return DEFAULT_INTERVAL_SECONDS
    return max(1, math.ceil(min(value, _MAX_FREQUENCY_MS) / 1000))


def initial_items(config: Any) -> int:
    """How many of the items already there the first poll fires (0 unless configured)."""
    value = config.get("initial_items") if isinstance(config, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, MAX_INITIAL_ITEMS))
