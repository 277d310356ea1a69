"""Pipeline step 6: the trigger's ``inputSchema`` (JSON Schema), compiled when saved and
checked on every body on RE2 and on a budget that grows with the body."""

from __future__ import annotations

import functools
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for

from triggers.budgets import Budget, BudgetExceeded, Meter, meter_for
from webhooks.errors import UnprocessableEntity
from webhooks.parsing import MAX_BODY_BYTES
from webhooks.patterns import compile_pattern
from webhooks.plain_schema import Acceptance, plain_acceptance


def _pointer(parts: Any) -> str:
    """RFC 6901 JSON pointer for a path of keys and indexes ("" is the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _validator_class(schema: Any) -> type:
    return linear_time_validator(validator_for(schema, default=Draft202012Validator))


# --- patterns in the input schema ------------------------------------------------------------
# jsonschema runs `pattern`, `patternProperties` (and `additionalProperties`, which skips the
# names patternProperties matched) on Python's re and has no switch for another engine, so
# a validator class gets these three keywords re-implemented on RE2 (linear_time_validator).
# `unevaluatedProperties` also reads patternProperties, deep inside jsonschema; a schema that
# combines the two is refused instead (check_schema_patterns).

_DATA_KEYWORDS = ("const", "enum", "default", "examples")  # values there are data, not schemas


def check_schema_patterns(schema: Any, pointer: str = "") -> None:
    """ValueError naming the location (`pointer` + a JSON pointer) of the first pattern RE2
    refuses in a JSON Schema, or of an `unevaluatedProperties` in a schema that also has
    `patternProperties`."""
    keywords = {"unevaluatedProperties": None, "patternProperties": None}
    for location, key, value in _schema_keywords(schema, pointer):
        if key == "pattern" and isinstance(value, str):
            _check(value, f"{location}/pattern")
        elif key == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                _check(pattern, f"{location}/patternProperties{_pointer([pattern])}")
        if key in keywords and keywords[key] is None:
            keywords[key] = f"{location}/{key}"
    if all(keywords.values()):
        raise ValueError(
            f"{keywords['unevaluatedProperties']}: cannot be combined with patternProperties "
            f"({keywords['patternProperties']}); use additionalProperties instead"
        )


def _schema_keywords(node: Any, pointer: str):
    """(location of the object, key, value) for every key of every object in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield pointer, key, value
            if key not in _DATA_KEYWORDS:
                yield from _schema_keywords(value, f"{pointer}{_pointer([key])}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _schema_keywords(item, f"{pointer}/{index}")


def _check(pattern: str, location: str) -> None:
    try:
        compile_pattern(pattern)
    except ValueError as exc:
        raise ValueError(f"{location}: {exc}") from None


@functools.cache
def linear_time_validator(validator_class: type) -> type:
    """`validator_class` bounded: `pattern`, `patternProperties` and `additionalProperties` on
    RE2, `uniqueItems` in O(n log n), `anyOf` and `oneOf` counting the errors they hold, the
    `regex` format checked without Python's pattern cache, and every keyword charged to the
    budget of the validation under way (validate_input; the bounds section of the module)."""
    keywords = {
        **validator_class.VALIDATORS,
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "uniqueItems": _unique_items,
        "anyOf": _any_of,
        "oneOf": _one_of,
    }
    return validators.extend(
        validator_class,
        {name: _metered(keyword) for name, keyword in keywords.items()},
        format_checker=_format_checker(validator_class.FORMAT_CHECKER),
    )


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        compiled = compile_pattern(pattern)
        for name, value in instance.items():
            if compiled.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    extras = [
        name
        for name in instance
        if name not in declared and not any(p.search(name) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        names = ", ".join(repr(name) for name in sorted(extras))
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


# --- bounds on a validation ------------------------------------------------------------------
# A schema is the owner's, the body the sender's, and some pairs cost far more than the body's
# size: jsonschema's own `uniqueItems` compares objects pairwise (12,000 objects: 30 s), an
# `allOf` or `$ref` that doubles the work at each level of the body is exponential, and every
# error a check makes (with the failing value's repr in its message) is kept in memory. So a
# validation runs on a budget (triggers/budgets.py: steps, a deadline, memory for errors)
# that every keyword charges, through a ContextVar because jsonschema gives its keywords no
# state of ours; it lists at most MAX_SCHEMA_ERRORS errors, each message clipped.

MAX_SCHEMA_ERRORS = 100
MAX_ERROR_MESSAGE_LENGTH = 500
_ERROR_BYTES = 3 * 1024  # a ValidationError with its paths and message, measured
# A schema is tried on these when saved: one whose work does not depend on the body (a `$ref`
# to itself, allOf of allOf of ...) shows it on them.
_PROBES = ({}, [], "", 0, None, True)
# Steps decide (the same answer on a busy machine as on an idle one); the clock is only the
# safety net, generous so that a loaded machine does not refuse a sound schema on save.
_PROBE_BUDGET = Budget(steps=10_000, seconds=5.0, memory=8 * 1024 * 1024)

_METER: ContextVar[Meter | None] = ContextVar("input_schema_meter", default=None)


def _metered(keyword):
    @functools.wraps(keyword)
    def metered(validator, value, instance, schema):
        meter = _METER.get()
        if meter is not None:
            meter.charge()
        return keyword(validator, value, instance, schema)

    return metered


def _held(meter: Meter | None, errors) -> list[ValidationError]:
    """``errors`` as a list, each counted against ``meter``'s memory as it arrives."""
    held = []
    for error in errors:
        if meter is not None:
            meter.allocate(_ERROR_BYTES + len(error.message))
        held.append(error)
    return held


def _unique_items(validator, unique, instance, schema):
    # Equal as JSON Schema says (1 == 1.0, true != 1, keys in any order): each item's JSON
    # text with sorted keys and integral floats as ints, into a dict — n log n, not n².
    if not unique or not validator.is_type(instance, "array"):
        return
    meter = _METER.get()
    seen: dict[str, int] = {}
    for index, item in enumerate(instance):
        text = json.dumps(
            _integral_floats_as_ints(item, meter),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        if meter is not None:
            meter.allocate(len(text) + 64)
        first = seen.setdefault(text, index)
        if first != index:
            yield ValidationError(
                f"The array has non-unique elements (items {first} and {index} are equal)"
            )
            return


def _integral_floats_as_ints(value: Any, meter: Meter | None) -> Any:
    if meter is not None:
        meter.charge()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item, meter) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item, meter) for item in value]
    return value


def _any_of(validator, any_of, instance, schema):
    meter = _METER.get()
    all_errors = []
    for index, subschema in enumerate(any_of):
        errors = _held(meter, validator.descend(instance, subschema, schema_path=index))
        if not errors:
            return
        all_errors.extend(errors)
    yield ValidationError(
        f"{instance!r} is not valid under any of the given schemas", context=all_errors
    )


def _one_of(validator, one_of, instance, schema):
    meter = _METER.get()
    subschemas = enumerate(one_of)
    all_errors = []
    for index, subschema in subschemas:
        errors = _held(meter, validator.descend(instance, subschema, schema_path=index))
        if not errors:
            first_valid = subschema
            break
        all_errors.extend(errors)
    else:
        yield ValidationError(
            f"{instance!r} is not valid under any of the given schemas", context=all_errors
        )
        return
    more_valid = [
        each for _, each in subschemas if validator.evolve(schema=each).is_valid(instance)
    ]
    if more_valid:
        more_valid.append(first_valid)
        reprs = ", ".join(repr(each) for each in more_valid)
        yield ValidationError(f"{instance!r} is valid under each of {reprs}")


def _format_checker(checker: FormatChecker) -> FormatChecker:
    """``checker`` with `regex` compiled outside Python's pattern cache (512 patterns a
    sender writes, each up to a body's size, would stay in memory) and a pattern too deep for
    Python's parser (RecursionError) or too large counted as not a regex."""
    bounded = FormatChecker(())
    bounded.checkers = dict(checker.checkers)
    if "regex" in bounded.checkers:
        bounded.checks("regex")(_is_regex)
    return bounded


def _is_regex(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        re._compiler.compile(instance, 0)  # re.compile without its cache
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def _check_probes(validator: Any) -> None:
    for probe in _PROBES:
        token = _METER.set(Meter(_PROBE_BUDGET))
        try:
            for _ in validator.iter_errors(probe):
                pass
        except BudgetExceeded as exceeded:
            raise ValueError(
                f"inputSchema: checking even {json.dumps(probe)} against it {exceeded}: it "
                "multiplies its own work (a $ref to itself, allOf or anyOf nested in each other)"
            ) from None
        except RecursionError:
            raise ValueError("inputSchema: a $ref refers back to itself without end") from None
        finally:
            _METER.reset(token)


def validate_input_schema_config(schema: Any) -> None:
    """Raise ValueError (naming the failing schema location) unless `schema` is a valid JSON Schema.

    The dialect comes from `$schema`, defaulting to 2020-12. Remote `$ref`s are never fetched
    (jsonschema's default registry does no retrieval), so a schema cannot make us send requests.
    Its regular expressions must be RE2's, which match in linear time (patterns.py,
    check_schema_patterns). A schema whose work does not depend on the body — a `$ref` to
    itself, combinators that multiply each other — is refused: checking a small value
    against it (``_PROBES``) recurses without end or spends more than ``_PROBE_BUDGET``.
    """
    _compile_input_schema(schema)


def _compile_input_schema(schema: Any) -> Any:
    if not isinstance(schema, dict):
        raise ValueError("inputSchema: must be a JSON object")
    cls = _validator_class(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"inputSchema{_pointer(exc.absolute_path)}: {exc.message}") from exc
    check_schema_patterns(schema, "inputSchema")
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    _check_probes(validator)
    return validator


@dataclass(frozen=True)
class InputSchema:
    """A trigger's input schema compiled: jsonschema's validator, and for a plain schema
    the quick check that says yes first (webhooks/plain_schema.py)."""

    validator: Any
    accepts: Acceptance | None


def compile_input_schema(schema: dict[str, Any]) -> InputSchema:
    """A reusable check of `schema` (its dialect from `$schema`, `format` enforced), for
    validate_input.

    ValueError (naming the failing schema location) when `schema` is not a valid JSON Schema.
    """
    validator = _compile_input_schema(schema)
    dialect = validator_for(schema, default=Draft202012Validator)
    return InputSchema(validator, plain_acceptance(schema, dialect))


def validate_input(schema: Any, data: Any, *, input_bytes: int = MAX_BODY_BYTES) -> None:
    """Raise UnprocessableEntity (422) listing the violations of `schema` by `data`.

    `schema` is a JSON Schema dict or an InputSchema from compile_input_schema (compiled
    once per trigger). `errors` is a list of {"path": JSON pointer into data, "message":
    str}, one per failing location (the first MAX_SCHEMA_ERRORS found, each message at most
    MAX_ERROR_MESSAGE_LENGTH characters), sorted by path (indexes numerically) then message.
    `format` keywords are enforced. A None schema accepts anything.

    The check runs on the budget of a body of ``input_bytes`` bytes (triggers/budgets.py);
    spent, or recursing without end, it is 422 ``input_schema_too_costly``. A plain schema's
    quick check goes first; when it is not sure, the steps it took are given back and
    jsonschema decides, so the verdict is jsonschema's either way.
    """
    if schema is None:
        return
    if isinstance(schema, InputSchema):
        validator, accepts = schema.validator, schema.accepts
    else:
        cls = _validator_class(schema)
        validator, accepts = cls(schema, format_checker=cls.FORMAT_CHECKER), None
    meter = meter_for(input_bytes)  # the delivery's, when its checks share one (pipeline.py)
    token = _METER.set(meter)
    found: list[tuple[list, str]] = []
    more = False
    try:
        if accepts is not None:
            spent = meter.steps
            if accepts(data, meter):
                return
            meter.refund(meter.steps - spent)
        for error in validator.iter_errors(data):
            if len(found) == MAX_SCHEMA_ERRORS:
                more = True
                break
            meter.allocate(_ERROR_BYTES + len(error.message))
            found.append((list(error.absolute_path), _clipped(error.message)))
    except BudgetExceeded as exceeded:
        raise _too_costly(f"{exceeded}") from None
    except RecursionError:
        raise _too_costly("recursed too deeply (a $ref that refers back to itself)") from None
    finally:
        _METER.reset(token)
    if not found:
        return
    # Ints sort before strings at the same depth so "/items/2" comes before "/items/10".
    found.sort(
        key=lambda item: (
            [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in item[0]],
            item[1],
        )
    )
    errors = [{"path": _pointer(path), "message": message} for path, message in found]
    count = f"the first {len(errors)} errors" if more else f"{len(errors)} error(s)"
    raise UnprocessableEntity(
        f"Request body does not match the trigger's input schema ({count}).",
        code="input_schema_mismatch",
        errors=errors,
    )


def _clipped(message: str) -> str:
    if len(message) <= MAX_ERROR_MESSAGE_LENGTH:
        return message
    return message[: MAX_ERROR_MESSAGE_LENGTH - 1] + "…"


def _too_costly(reason: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        f"Checking the request body against the trigger's input schema {reason}; the schema "
        "makes this body too costly to check.",
        code="input_schema_too_costly",
    )
