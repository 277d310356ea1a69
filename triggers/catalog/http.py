"""A JSON API, polled: a trigger fires once per new item of a list (docs/polling.md)."""

from typing import Any

from jmespath.exceptions import JMESPathError

from triggers.catalog.entry import TriggerType, string_property
from triggers.catalog.rss import URL_PATTERN
from triggers.choices import Delivery
from triggers.jmespath_bounded import ExpressionTooComplex, compile_expression
from triggers.polling_config import POLLING_PROPERTIES

_EXPRESSIONS = ("items_path", "id_field", "order_field")


def _check_expressions(config: dict[str, Any]) -> dict[str, str]:
    errors = {}
    for key in _EXPRESSIONS:
        if isinstance(config.get(key), str):
            try:
                compile_expression(config[key])
            except ExpressionTooComplex as error:
                errors[key] = f"Too complex: {error}."
            except JMESPathError as error:
                errors[key] = f"Not a JMESPath expression: {error}"
    return errors


ON_NEW_JSON_ITEM = TriggerType(
    "http", "on_new_json_item", "New JSON item",
    "Fires once for each new item of a list that a JSON URL answers, polled.",
    Delivery.POLLING,
    instructions=(
        "Give the URL to GET, where the list of items is in its JSON answer (items_path, a "
        "JMESPath; the answer itself by default), which field is an item's id and, if the "
        "list has one, which field orders the items (a number or an ISO 8601 time). The "
        "first poll only notes the items already there; each later item fires once, with "
        "the item as its input. A connection is optional: its value is sent as request "
        "headers (a JSON object of headers, 'Name: value' lines, or a bearer token)."
    ),
    icon="braces", tags=("http", "json", "polling"),
    config_schema={
        "type": "object",
        "properties": {
            "url": string_property(
                "URL", "The http(s) URL that answers JSON.",
                pattern=URL_PATTERN, examples=["https://api.example.com/v1/orders"],
            ),
            "items_path": string_property(
                "Items path", "A JMESPath to the list of items in the answer (default @: "
                "the answer is the list).", examples=["data.items"],
            ),
            "id_field": string_property(
                "Id field", "A JMESPath to an item's id within the item (default id).",
                examples=["id"],
            ),
            "order_field": string_property(
                "Order field", "A JMESPath to the value that orders the items (a number or "
                "an ISO 8601 time); without it, the list is taken as newest first.",
                examples=["created_at"],
            ),
            **POLLING_PROPERTIES,
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    config_check=_check_expressions,
    cursor_keys=("url", *_EXPRESSIONS),
    sample_payload={"id": "ord_1042", "status": "paid", "total": 129.5,
                    "created_at": "2026-12-01T09:30:00Z"},
)  # fmt: skip

ENTRIES = (ON_NEW_JSON_ITEM,)
