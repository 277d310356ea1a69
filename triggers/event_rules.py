"""What an event trigger's ``config`` says about which deliveries run and how many at once:
``filter`` and ``concurrency`` (docs/webhooks.md, "Filters and concurrency keys").

Both are JMESPath expressions a trigger's owner writes, evaluated on what a sender sends, so
both are bounded like a transform (triggers/jmespath_bounded.py). They are part of the one
config definition of every event type (webhooks, app events, polling, watched folders): the
catalog adds ``EVENT_RULE_SCHEMAS`` to those types' JSON Schemas and ``config_errors`` to
their checks (triggers/catalog/entry.py), so every surface refuses the same values with the
same field names.

- ``filter``: a JMESPath that must be truthy (JMESPath's truth: ``false``, ``null``, ``""``,
  ``[]`` and ``{}`` are false, every number is true) for the delivery to run the agent. A
  filtered delivery stores nothing and is counted on the trigger (``filtered_count``). An
  expression that fails on a payload (it spends its budget, or a function gets the wrong
  type) filters the delivery too: the owner asked for deliveries that pass, and this one
  did not.
- ``concurrency``: ``{"key": <JMESPath>, "limit": K}``: at most K executions of the trigger
  in flight per value of the key. The key is evaluated once, when the execution is stored,
  and kept on it (``Execution.concurrency_key``, ``key_value``); dispatch honours it
  (executions/fairness.py). A key that evaluates to null, or fails, is the key ``null``: such
  executions share one group of K.

Both read one document, the delivery as the owner sees it (``event_document``):
``{"payload": <the parsed body, as delivered>, "headers": {<lower-case name>: value},
"query": {...}}`` for a webhook or an app event (before any transform; the headers that carry
credentials are not in it), and the execution's input for the others (a poll's
``{"item_id", "item", "source"}``, a watched folder's ``{"event", "path", …}``). Pure, no
database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jmespath.exceptions import JMESPathError

from triggers import config_keys
from triggers.choices import Delivery
from triggers.jmespath_bounded import (
    MAX_EXPRESSION_LENGTH,
    Evaluation,
    Expression,
    ExpressionTooComplex,
    compile_expression,
)

# The deliveries these keys belong to: events, not schedules.
EVENT_DELIVERIES = frozenset(
    {Delivery.WEBHOOK, Delivery.EVENT, Delivery.POLLING, Delivery.FILE_SYSTEM}
)
MAX_CONCURRENCY_LIMIT = 1000
# A key value longer than this is stored as its digest ("sha256:<hex>", 71 characters).
MAX_KEY_LENGTH = 64
KEY_COLUMN_LENGTH = 80

EVENT_RULE_SCHEMAS: dict[str, dict[str, Any]] = {
    "filter": {
        "type": ["string", "null"],
        "title": "Filter",
        "description": (
            "A JMESPath over the delivery ({payload, headers, query} for a webhook, the "
            "execution's input otherwise) that must be truthy for it to run the agent; "
            "other deliveries are counted and not stored."
        ),
        "maxLength": MAX_EXPRESSION_LENGTH,
        "examples": ["payload.action == 'opened'"],
    },
    "concurrency": {
        "type": ["object", "null"],
        "title": "Concurrency key",
        "description": (
            "At most `limit` executions running at once per value of `key` (a JMESPath over "
            "the delivery, e.g. payload.customer_id), fairly across keys."
        ),
        "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_LENGTH},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY_LIMIT},
        },
        "required": ["key", "limit"],
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class Concurrency:
    key: Expression
    limit: int


def compile_rule_expression(text: Any) -> Expression:
    """``text`` compiled as a filter or a key; ValueError with a message a 400 can show."""
    try:
        return compile_expression(text)
    except ExpressionTooComplex as error:
        raise ValueError(f"Too complex: {error}.") from None
    except JMESPathError as error:
        raise ValueError(f"Not a JMESPath expression: {error}") from None


def config_errors(config: Mapping[str, Any]) -> dict[str, str]:
    """``{"<key>": message}`` for an expression that does not compile (the JSON Schema has
    checked the shapes already)."""
    errors: dict[str, str] = {}
    if isinstance(config.get("filter"), str) and config["filter"].strip():
        try:
            compile_rule_expression(config["filter"])
        except ValueError as error:
            errors["filter"] = str(error)
    concurrency = config.get("concurrency")
    if isinstance(concurrency, dict) and isinstance(concurrency.get("key"), str):
        try:
            compile_rule_expression(concurrency["key"])
        except ValueError as error:
            errors["concurrency.key"] = str(error)
    return errors


# -- reading (lenient: a value stored unchecked reads as "off") -------------------------------


def event_filter(config: Any) -> Expression | None:
    """The trigger's ``filter``, compiled, or None (none, or not one that compiles)."""
    text = config.get("filter") if isinstance(config, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return compile_rule_expression(text)
    except ValueError:
        return None


def concurrency(config: Any) -> Concurrency | None:
    """The trigger's ``concurrency``, compiled, or None."""
    value = config.get("concurrency") if isinstance(config, dict) else None
    if not isinstance(value, dict):
        return None
    limit = value.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return None
    try:
        return Concurrency(compile_rule_expression(value.get("key")), limit)
    except ValueError:
        return None


def concurrency_limit(config: Any) -> int | None:
    """The trigger's per-key limit (dispatch reads only this), or None."""
    found = concurrency(config)
    return found.limit if found else None


# -- evaluating ---------------------------------------------------------------------------------


def event_document(input_data: Any, request_payload: Any = None) -> Any:
    """What ``filter`` and ``concurrency.key`` read (module docstring): a webhook's request as
    stored on its execution (``webhooks.pipeline.stored_request``), else the input."""
    if isinstance(request_payload, dict) and "body" in request_payload:
        return request_document(
            request_payload.get("body"),
            request_payload.get("headers") or {},
            request_payload.get("query") or {},
        )
    return input_data


def request_document(body: Any, headers: Mapping[str, str], query: Mapping[str, Any]) -> dict:
    """A webhook delivery's document: its parsed body, its headers by lower-case name."""
    return {
        "payload": body,
        "headers": {str(name).lower(): value for name, value in headers.items()},
        "query": dict(query),
    }


def passes(expression: Expression, document: Any, *, input_bytes: int | None = None) -> bool:
    """Is ``expression`` truthy on ``document``? Raises JMESPathError when it fails (a budget
    spent, a wrong type); ``input_bytes`` (the body's size) grows its budget."""
    result = Evaluation(input_bytes=input_bytes).search(expression, document)
    return result not in (None, False, "", [], {})


def filtered_reason(expression: Expression | None, document: Any, **limits: Any) -> str | None:
    """Why ``expression`` turns this delivery away, or None when it runs (or there is none)."""
    if expression is None:
        return None
    try:
        if passes(expression, document, **limits):
            return None
    except JMESPathError as error:
        return f"Filtered: the trigger's filter failed on this delivery ({error})."
    return "Filtered: the trigger's filter is not truthy on this delivery."


def key_value(rule: Concurrency | None, document: Any) -> str | None:
    """The value of the concurrency key on ``document``, as stored on the execution: a string
    as it is, any other value as compact JSON, ``null`` when it is missing or fails; longer
    than MAX_KEY_LENGTH, its SHA-256. None without a concurrency rule."""
    if rule is None:
        return None
    try:
        found = Evaluation().search(rule.key, document)
    except JMESPathError:
        found = None
    if isinstance(found, str):
        text = found
    else:
        text = json.dumps(found, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_KEY_LENGTH:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    return text


# -- trying filters on past deliveries ----------------------------------------------------------

DRY_RUN_DEFAULT = 20
DRY_RUN_MAX = 200


@dataclass(frozen=True)
class TriedFilters:
    """Filters to try (``filter_errors`` checked them): the JMESPath and the webhook keys."""

    expression: Expression | None = None
    body_contains: str = ""
    required_headers: tuple[str, ...] = ()


def filter_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """``{"<key>": message}`` for filters to try (``filter``, ``body_contains``,
    ``required_headers``) that a trigger's config would refuse."""
    errors = {
        key.removeprefix("config."): message
        for key, message in config_keys.config_errors(
            {k: values[k] for k in ("body_contains", "required_headers") if k in values},
            Delivery.WEBHOOK,
        ).items()
    }
    text = values.get("filter")
    if text is not None and not isinstance(text, str):
        errors["filter"] = "Must be a JMESPath expression (a string), or null."
    elif text:
        errors.update(config_errors({"filter": text}))
    return errors


def tried_filters(values: Mapping[str, Any]) -> TriedFilters:
    """The filters of ``values`` (valid: ``filter_errors`` found nothing), compiled."""
    text = values.get("filter")
    headers = [h.strip() for h in values.get("required_headers") or () if h.strip()]
    return TriedFilters(
        expression=compile_rule_expression(text) if text and text.strip() else None,
        body_contains=values.get("body_contains") or "",
        required_headers=tuple(headers),
    )


def would_run(filters: TriedFilters, *, input_data: Any, request_payload: Any) -> str | None:
    """Why ``filters`` would have turned away the delivery an execution stored, or None when
    it would have run. A webhook's execution keeps the request (``request_payload``): the
    headers are those kept, without the ones that carry credentials (a required header among
    those reads as missing), and ``body_contains`` looks in the body as stored (as text,
    bytes that are not UTF-8 replaced). Other executions have only their input."""
    request = request_payload if isinstance(request_payload, dict) else {}
    headers = {str(k).lower(): v for k, v in (request.get("headers") or {}).items()}
    for name in filters.required_headers:
        if not headers.get(name.lower()):
            return f"Filtered: the required header {name!r} is missing."
    if filters.body_contains:
        raw = request.get("raw_body")
        if not isinstance(raw, str) or filters.body_contains not in raw:
            return "Filtered: the body does not contain the text this trigger requires."
    return filtered_reason(filters.expression, event_document(input_data, request_payload))
