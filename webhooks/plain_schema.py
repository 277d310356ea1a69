"""A quick yes for a plain input schema: the shape most triggers' ``inputSchema`` has.

jsonschema walks any schema generically, and on a five-field body that costs about 50 µs,
an eighth of a delivery's CPU in the web process (docs/benchmarks.md). Most input schemas
use a handful of keywords — ``type``, ``properties``, ``required``, ``items``,
``additionalProperties``, string ``enum``/``const``, length and range bounds — with
annotations beside them. For such a schema ``plain_acceptance`` compiles, once per
pipeline, a small tree of closures that answers only **yes** (jsonschema would find no
error) or **not sure**. It never refuses: on "not sure" the body goes through jsonschema as
before, which stays the only authority for errors and their messages
(webhooks/input_schema.py, ``validate_input``).

It must therefore never say yes where jsonschema says no. Each keyword below is read as
jsonschema reads it in the drafts whose ``integer`` takes 1.0 (6, 7, 2019-09, 2020-12);
any other keyword, dialect, ``$ref``, combinator, pattern or ``format`` makes the schema
not plain, and the quick check is not used. tests/webhooks/test_plain_schema.py compares
the two on thousands of generated schemas and values.

Bounded by construction, and metered besides: without ``$ref`` and combinators each value
of the body is checked by at most one node of the schema, so the work grows with the body
times the schema, and each node charges the delivery's meter (triggers/budgets.py) one step
per keyword, as the metered jsonschema keywords do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema import (
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)

from triggers.budgets import Meter

# (value, meter) -> True: jsonschema finds no error; False: not sure.
Acceptance = Callable[[Any, Meter], bool]

# The drafts whose `integer` takes an integral float, as JSON's 1.0 is parsed (draft 4's
# does not); their keywords below mean the same in each.
_PLAIN_DIALECTS = (Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator)
# Keywords that never fail a value: jsonschema has no check for them.
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
     "writeOnly"}
)  # fmt: skip
_ROOT_ONLY = frozenset({"$schema", "$id"})  # without a $ref, the base URI changes nothing


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# JSON Schema's types as jsonschema's type checker of those drafts has them.
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _number,
    "integer": lambda value: (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
    ),
}


class _NotPlain(Exception):
    """The schema uses something this module does not read as jsonschema does."""


def plain_acceptance(schema: Any, dialect: type) -> Acceptance | None:
    """The quick check of ``schema`` (of the jsonschema class ``dialect``), or None when the
    schema is not plain (see module)."""
    if dialect not in _PLAIN_DIALECTS:
        return None
    try:
        return _node(schema, root=True)
    except _NotPlain:
        return None


def _always(value: Any, meter: Meter) -> bool:
    return True


def _unsure(value: Any, meter: Meter) -> bool:
    return False  # the schema `false`: jsonschema reports the error


def _node(schema: Any, *, root: bool = False) -> Acceptance:
    if schema is True:
        return _always
    if schema is False:
        return _unsure
    if not isinstance(schema, dict):
        raise _NotPlain
    # In the schema's order, as jsonschema takes them: the same work on every process.
    skipped = (_ANNOTATIONS | _ROOT_ONLY) if root else _ANNOTATIONS
    keywords = [keyword for keyword in schema if keyword not in skipped]
    checks = [_KEYWORDS.get(keyword, _not_plain)(schema[keyword], schema) for keyword in keywords]
    checks = [check for check in checks if check is not None]
    steps = len(keywords)  # `additionalProperties: true` checks nothing, but is charged
    if not steps:
        return _always

    def accepts(value: Any, meter: Meter) -> bool:
        meter.charge(steps)
        for check in checks:  # noqa: SIM110 -- a loop: no generator made per value
            if not check(value, meter):
                return False
        return True

    return accepts


def _not_plain(value: Any, schema: dict) -> None:
    raise _NotPlain


def _type(names: Any, schema: dict) -> Acceptance:
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or any(name not in _TYPES for name in names):
        raise _NotPlain
    tests = tuple(_TYPES[name] for name in names)
    if len(tests) == 1:
        (test,) = tests
        return lambda value, meter: test(value)
    return lambda value, meter: any(test(value) for test in tests)


def _strings(values: Any) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(each, str) for each in values):
        raise _NotPlain  # other values compare as JSON Schema says (1 == 1.0, true != 1)
    return frozenset(values)


def _enum(values: Any, schema: dict) -> Acceptance:
    allowed = _strings(values)
    return lambda value, meter: isinstance(value, str) and value in allowed


def _const(value_: Any, schema: dict) -> Acceptance:
    if not isinstance(value_, str):
        raise _NotPlain
    return lambda value, meter: isinstance(value, str) and value == value_


def _required(names: Any, schema: dict) -> Acceptance:
    names = tuple(_strings(names))
    return lambda value, meter: not isinstance(value, dict) or all(n in value for n in names)


def _properties(properties: Any, schema: dict) -> Acceptance:
    if not isinstance(properties, dict):
        raise _NotPlain
    nodes = tuple((name, _node(subschema)) for name, subschema in properties.items())

    def accepts(value: Any, meter: Meter) -> bool:
        if not isinstance(value, dict):
            return True
        for name, node in nodes:  # noqa: SIM110 -- a loop: no generator made per value
            if name in value and not node(value[name], meter):
                return False
        return True

    return accepts


def _additional_properties(additional: Any, schema: dict) -> Acceptance | None:
    if additional is True:
        return None
    declared = schema.get("properties", {})
    if not isinstance(declared, dict):
        raise _NotPlain
    node = _node(additional)

    def accepts(value: Any, meter: Meter) -> bool:
        if not isinstance(value, dict):
            return True
        return all(node(item, meter) for name, item in value.items() if name not in declared)

    return accepts


def _items(items: Any, schema: dict) -> Acceptance:
    if not isinstance(items, dict | bool):
        raise _NotPlain  # the array form (a tuple of schemas, before 2020-12)
    node = _node(items)

    def accepts(value: Any, meter: Meter) -> bool:
        if not isinstance(value, list):
            return True
        return all(node(item, meter) for item in value)

    return accepts


def _bound(kind: Callable[[Any], bool], measure: Callable, fails: Callable) -> Callable:
    """A keyword that bounds ``measure(value)`` of the values of one ``kind``."""

    def keyword(limit: Any, schema: dict) -> Acceptance:
        if not _number(limit):
            raise _NotPlain
        return lambda value, meter: not kind(value) or not fails(measure(value), limit)

    return keyword


def _identity(value: Any) -> Any:
    return value


_KEYWORDS: dict[str, Callable[[Any, dict], Acceptance | None]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional_properties,
    "items": _items,
    "minLength": _bound(_TYPES["string"], len, lambda measured, limit: measured < limit),
    "maxLength": _bound(_TYPES["string"], len, lambda measured, limit: measured > limit),
    "minItems": _bound(_TYPES["array"], len, lambda measured, limit: measured < limit),
    "maxItems": _bound(_TYPES["array"], len, lambda measured, limit: measured > limit),
    "minimum": _bound(_number, _identity, lambda measured, limit: measured < limit),
    "maximum": _bound(_number, _identity, lambda measured, limit: measured > limit),
}
