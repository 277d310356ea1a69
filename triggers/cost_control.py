"""Debounce and throttle: an event trigger's ``config.debounce`` and ``config.throttle``
(docs/webhooks.md, "Debounce and throttle").

- ``debounce: {key?, period_seconds, mode?, max_wait_seconds?}``: deliveries of one key (a
  bounded JMESPath over the payload; none: the whole trigger) close together make one run.
  ``trailing`` (the default): one run with the last payload once ``period_seconds`` have
  passed since the key's last delivery, at the latest ``max_wait_seconds`` after its first
  (default MAX_PERIOD_SECONDS: nothing waits for ever). ``leading``: the first delivery runs
  at once; the others within ``period_seconds`` of it are dropped. Either way the run counts
  every delivery it stands for (``Execution.delivery_count``).
- ``throttle: {key?, limit, period_seconds}``: at most ``limit`` runs of one key may start
  within any ``period_seconds``; the excess waits, in order, for the next free slot, and is
  never refused.

This module is the one definition of both keys, pure (no database): their JSON Schema
(``PROPERTIES``, part of every event type's catalog entry, so every surface checks them the
same way), the checks a schema cannot make (``config_check``: the key compiles as a bounded
JMESPath, ``max_wait_seconds`` is at least the period and only for ``trailing``), how a
firing reads them (``cost_control``, lenient) and the key of a payload (``key_digest``). The
firing itself (the windows, the slots) is executions/services/cost_control.py's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from jmespath.exceptions import JMESPathError

from triggers.jmespath_bounded import ExpressionTooComplex, compile_expression, search

MIN_PERIOD_SECONDS = 1
MAX_PERIOD_SECONDS = 7 * 24 * 3600
MAX_THROTTLE_LIMIT = 100_000
TRAILING, LEADING = "trailing", "leading"
# A value a key expression makes is at most this large (JSON): a key names a group, it is
# not a copy of the payload.
MAX_KEY_BYTES = 64 * 1024

_PERIOD = {
    "type": "integer",
    "minimum": MIN_PERIOD_SECONDS,
    "maximum": MAX_PERIOD_SECONDS,
}
_KEY = {
    "type": ["string", "null"],
    "title": "Key",
    "description": (
        "A JMESPath over the payload whose value groups deliveries (each value apart); "
        "none: the whole trigger is one group."
    ),
    "minLength": 1,
    "examples": ["customer.id"],
}
DEBOUNCE_SCHEMA = {
    "type": ["object", "null"],
    "title": "Debounce",
    "description": (
        "Deliveries of one key close together make one run: trailing (the default) runs the "
        "last payload once period_seconds pass without another, at the latest "
        "max_wait_seconds after the first; leading runs the first and drops the rest of the "
        "period. The run counts every delivery it stands for."
    ),
    "properties": {
        "key": _KEY,
        "period_seconds": {**_PERIOD, "title": "Period (seconds)"},
        "mode": {"enum": [TRAILING, LEADING], "title": "Mode"},
        "max_wait_seconds": {
            **_PERIOD,
            "type": ["integer", "null"],
            "title": "Longest wait (seconds)",
            "description": "Trailing only: the run starts at the latest this long after the "
            "first delivery, however often more arrive (default 7 days).",
        },
    },
    "required": ["period_seconds"],
    "additionalProperties": False,
}
THROTTLE_SCHEMA = {
    "type": ["object", "null"],
    "title": "Throttle",
    "description": (
        "At most limit runs of one key start within any period_seconds; the excess waits, in "
        "order, for the next free slot (never refused)."
    ),
    "properties": {
        "key": _KEY,
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_THROTTLE_LIMIT,
            "title": "Runs per period",
        },
        "period_seconds": {**_PERIOD, "title": "Period (seconds)"},
    },
    "required": ["limit", "period_seconds"],
    "additionalProperties": False,
}
# Added to every event type's config schema (triggers/catalog/__init__.py).
PROPERTIES = {"debounce": DEBOUNCE_SCHEMA, "throttle": THROTTLE_SCHEMA}


def config_check(config: dict[str, Any]) -> dict[str, str]:
    """``{"<key>": message}`` for what the schema cannot say (run once the schema passed)."""
    errors: dict[str, str] = {}
    for name in PROPERTIES:
        given = config.get(name)
        if not isinstance(given, dict):
            continue
        key = given.get("key")
        if isinstance(key, str):
            try:
                compile_expression(key)
            except ExpressionTooComplex as error:
                errors[f"{name}.key"] = f"Too complex: {error}."
            except JMESPathError as error:
                errors[f"{name}.key"] = f"Not a JMESPath expression: {error}"
    debounce = config.get("debounce")
    if isinstance(debounce, dict) and debounce.get("max_wait_seconds") is not None:
        if debounce.get("mode", TRAILING) == LEADING:
            errors["debounce.max_wait_seconds"] = (
                "Only a trailing debounce waits; a leading one runs the first delivery at once."
            )
        elif debounce["max_wait_seconds"] < debounce["period_seconds"]:
            errors["debounce.max_wait_seconds"] = (
                "Must be at least period_seconds (the longest wait includes one quiet period)."
            )
    return errors


@dataclass(frozen=True)
class Debounce:
    key: str | None
    period: timedelta
    leading: bool
    max_wait: timedelta  # trailing: from the first delivery to the run, at most


@dataclass(frozen=True)
class Throttle:
    key: str | None
    limit: int
    period: timedelta


@dataclass(frozen=True)
class CostControl:
    debounce: Debounce | None = None
    throttle: Throttle | None = None


def cost_control(config: Any) -> CostControl | None:
    """The debounce and throttle of a trigger's ``config``, or None when it has neither (the
    hot path: two dictionary lookups). Lenient: a value that was stored unchecked and does not
    read as one of them is off, as config_keys reads the client's keys."""
    if not isinstance(config, dict):
        return None
    given_debounce, given_throttle = config.get("debounce"), config.get("throttle")
    if given_debounce is None and given_throttle is None:
        return None
    return _read(
        json.dumps(given_debounce, sort_keys=True), json.dumps(given_throttle, sort_keys=True)
    )


@lru_cache(maxsize=1024)
def _read(debounce_text: str, throttle_text: str) -> CostControl | None:
    given_debounce, given_throttle = json.loads(debounce_text), json.loads(throttle_text)
    try:
        if config_check({"debounce": given_debounce, "throttle": given_throttle}):
            return None
    except (TypeError, KeyError):  # stored unchecked, not of the schema's types
        return None
    debounce = throttle = None
    if isinstance(given_debounce, dict) and _seconds(given_debounce.get("period_seconds")):
        period = _seconds(given_debounce["period_seconds"])
        leading = given_debounce.get("mode") == LEADING
        max_wait = _seconds(given_debounce.get("max_wait_seconds")) or MAX_PERIOD_SECONDS
        debounce = Debounce(
            key=_key(given_debounce.get("key")),
            period=timedelta(seconds=period),
            leading=leading,
            max_wait=timedelta(seconds=period if leading else max(max_wait, period)),
        )
    if isinstance(given_throttle, dict):
        period, limit = _seconds(given_throttle.get("period_seconds")), given_throttle.get("limit")
        if period and isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
            throttle = Throttle(
                key=_key(given_throttle.get("key")),
                limit=min(limit, MAX_THROTTLE_LIMIT),
                period=timedelta(seconds=period),
            )
    if debounce is None and throttle is None:
        return None
    return CostControl(debounce=debounce, throttle=throttle)


def _seconds(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = int(value)
    return seconds if MIN_PERIOD_SECONDS <= seconds <= MAX_PERIOD_SECONDS else None


def _key(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        compile_expression(value)
    except JMESPathError:
        return None
    return value


def key_digest(key: str | None, payload: Any) -> str:
    """The group a payload belongs to under ``key``: SHA-256 (hex) of its value as canonical
    JSON, so that any value (a long string, an object) fits one indexed column.

    No key: one group for the whole trigger. A key the payload makes too costly (its budget,
    MAX_KEY_BYTES) groups the delivery with the others whose key failed, rather than losing
    it or letting the sender choose a group per delivery.
    """
    if key is None:
        value: Any = ["trigger"]
    else:
        try:
            value = ["value", search(compile_expression(key), payload, max_bytes=MAX_KEY_BYTES)]
        except JMESPathError:
            value = ["failed"]
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def describe(control: CostControl | None) -> str:
    """For people (the trigger's admin page): what the engine does with these settings."""
    if control is None:
        return "None: every delivery runs at once."
    parts = []
    if control.debounce is not None:
        debounce = control.debounce
        of = f"per value of {debounce.key}" if debounce.key else "for the whole trigger"
        if debounce.leading:
            parts.append(
                f"Debounce (leading) {of}: the first delivery runs, the others within "
                f"{_span(debounce.period)} of it are dropped and counted on it."
            )
        else:
            parts.append(
                f"Debounce (trailing) {of}: one run with the last payload once "
                f"{_span(debounce.period)} pass without a delivery, at most "
                f"{_span(debounce.max_wait)} after the first."
            )
    if control.throttle is not None:
        throttle = control.throttle
        of = f"per value of {throttle.key}" if throttle.key else "for the whole trigger"
        parts.append(
            f"Throttle {of}: at most {throttle.limit} runs start per "
            f"{_span(throttle.period)}; the excess waits in order."
        )
    return " ".join(parts)


def _span(period: timedelta) -> str:
    return f"{int(period.total_seconds()):,} s"
