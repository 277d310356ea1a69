"""Reading a webhook request: size limit, body parsing, input schema, idempotency, output transform.

Output transforms (``{"jmespath": …}``, ``{"objectTransformation": {key: path}}``) and body
idempotency paths are JMESPath expressions. JMESPath is a small, well-kept query language with
a formal spec (used by the AWS CLI and boto), and evaluating it cannot execute code, so a
trigger owner can reshape payloads without us running their code.

Idempotency spec (the `idempotencyKey` shape we store on a trigger):

    {"source": "header", "key": "Idempotency-Key"}
    {"source": "body", "path": "data.object.id"}      # a JMESPath expression

With no spec, the first present header of Idempotency-Key, webhook-id, X-GitHub-Delivery wins.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jmespath.exceptions
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for

from api import storable
from triggers import jmespath_bounded
from triggers.budgets import Budget, BudgetExceeded, Meter, budget_for
from webhooks.errors import (
    BadRequest,
    PayloadTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from webhooks.patterns import compile_pattern

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_FORM_FIELDS = 1000
DEFAULT_IDEMPOTENCY_HEADERS = ("Idempotency-Key", "webhook-id", "X-GitHub-Delivery")

JSON_MEDIA_TYPES = {"application/json"}
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def get_header(
    headers: Mapping[str, str], name: str, *, case_sensitive: bool = False
) -> str | None:
    """The value of header `name`, or None. Matches names case-insensitively unless told not to."""
    if case_sensitive:
        # Iterate rather than .get(): a case-insensitive mapping (Django's) would ignore case.
        return next((value for key, value in headers.items() if key == name), None)
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def check_body_size(length: int, limit: int = MAX_BODY_BYTES) -> None:
    """Raise PayloadTooLarge (413) when a body of `length` bytes exceeds `limit`."""
    if length > limit:
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit} bytes.")


def _loads_json(text: str | bytes, what: str) -> Any:
    try:
        return storable.loads(text)
    except storable.UnstorableJSON as unstorable:
        raise unstorable_rejection(what, unstorable.problem) from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}", code="invalid_json") from exc


def unstorable_rejection(what: str, problem: storable.JSONProblem) -> BadRequest:
    """The 400 for a part of the request PostgreSQL could not store (api/storable.py)."""
    return BadRequest(f"{what} cannot be stored: {problem}.", code="unstorable_value")


def check_storable(value: Any, what: str) -> None:
    """BadRequest (400 ``unstorable_value``) when ``value`` cannot be stored, naming where."""
    problem = storable.json_problem(value)
    if problem is not None:
        raise unstorable_rejection(what, problem)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None) -> Any:
    """Decode a request body by its Content-Type.

    JSON (application/json, */*+json) → the decoded value, when it can be stored (no NUL,
    lone surrogate, number out of range or nesting over api.storable.MAX_JSON_DEPTH: 400
    ``unstorable_value`` naming the problem and where, api/storable.py).
    application/x-www-form-urlencoded → a dict of str (a repeated field becomes a list of
    str); a `payload` field is decoded as JSON, because Slack interactivity and GitHub form
    deliveries send `payload=<json>`. text/* → str. An empty body → None. Raises BadRequest
    (400) when the body does not parse or cannot be stored and UnsupportedMediaType (415)
    for any other content type.
    """
    if not body:
        return None
    media_type = _media_type(content_type)
    if media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
        return _loads_json(body, "Request body")
    if media_type == FORM_MEDIA_TYPE:
        data = _parse_form(body)
        check_storable(data, "Request body")
        return data
    if media_type.startswith("text/"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("Request body is not valid UTF-8.", code="invalid_body") from exc
        check_storable(text, "Request body")
        return text
    raise UnsupportedMediaType(
        f"Content-Type {media_type or '(none)'!r} is not supported; send JSON or a form."
    )


def _parse_form(body: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise BadRequest(f"Form body does not parse: {exc}", code="invalid_form") from exc
    data: dict[str, Any] = {
        key: values[0] if len(values) == 1 else values for key, values in fields.items()
    }
    if isinstance(data.get("payload"), str):
        data["payload"] = _loads_json(data["payload"], "Form field 'payload'")
    return data


def slack_url_verification_challenge(data: Any) -> str | None:
    """The `challenge` to echo back when `data` is Slack's url_verification event, else None.

    Slack signs this request like any other, so verify the signature before answering it.
    """
    if isinstance(data, dict) and data.get("type") == "url_verification":
        challenge = data.get("challenge")
        if isinstance(challenge, str):
            return challenge
    return None


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


def compile_input_schema(schema: dict[str, Any]) -> Any:
    """A reusable validator for `schema` (its dialect from `$schema`, `format` enforced).

    ValueError (naming the failing schema location) when `schema` is not a valid JSON Schema.
    """
    return _compile_input_schema(schema)


def validate_input(schema: Any, data: Any, *, input_bytes: int = MAX_BODY_BYTES) -> None:
    """Raise UnprocessableEntity (422) listing the violations of `schema` by `data`.

    `schema` is a JSON Schema dict or a validator from compile_input_schema (compiled once per
    trigger). `errors` is a list of {"path": JSON pointer into data, "message": str}, one per
    failing location (the first MAX_SCHEMA_ERRORS found, each message at most
    MAX_ERROR_MESSAGE_LENGTH characters), sorted by path (indexes numerically) then message.
    `format` keywords are enforced. A None schema accepts anything.

    The check runs on the budget of a body of ``input_bytes`` bytes (triggers/budgets.py);
    spent, or recursing without end, it is 422 ``input_schema_too_costly``.
    """
    if schema is None:
        return
    if hasattr(schema, "iter_errors"):  # compiled
        validator = schema
    else:
        cls = _validator_class(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    meter = Meter(budget_for(input_bytes))
    token = _METER.set(meter)
    found: list[tuple[list, str]] = []
    more = False
    try:
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


def validate_idempotency_spec(spec: Any) -> dict[str, str] | None:
    """The normalised spec, or None for the default headers; ValueError names the field."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError("idempotencyKey: must be an object")
    source = spec.get("source")
    if source == "header":
        key = spec.get("key")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("idempotencyKey.key: a header name is required")
        return {"source": "header", "key": key.strip()}
    if source == "body":
        path = spec.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ValueError("idempotencyKey.path: a JMESPath expression is required")
        _compile_jmespath(path, "idempotencyKey.path")
        return {"source": "body", "path": path}
    raise ValueError("idempotencyKey.source: must be one of 'header', 'body'")


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value).strip() or None
    return None


def extract_idempotency_key(
    spec: dict[str, str] | None,
    headers: Mapping[str, str],
    data: Any,
    *,
    input_bytes: int = MAX_BODY_BYTES,
) -> str | None:
    """The idempotency key of a request, or None when it carries none.

    `spec` as in the module docstring; None tries the default headers in order. A body value
    must be a string or number; a body path that fails, or spends the budget of a body of
    ``input_bytes`` bytes, finds none. Raises BadRequest (400) for a key over 255 characters.
    """
    spec = validate_idempotency_spec(spec)
    if spec is None:
        candidates = (get_header(headers, name) for name in DEFAULT_IDEMPOTENCY_HEADERS)
        key = next((text for c in candidates if (text := _scalar_text(c))), None)
    elif spec["source"] == "header":
        key = _scalar_text(get_header(headers, spec["key"]))
    else:
        try:
            found = jmespath_bounded.compile_expression(spec["path"]).search(
                data, input_bytes=input_bytes
            )
        except jmespath.exceptions.JMESPathError:
            found = None
        key = _scalar_text(found)
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadRequest(
            f"Idempotency key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
            code="invalid_idempotency_key",
        )
    return key


@dataclass(frozen=True)
class OutputTransform:
    """A compiled ``outputTransform``: one JMESPath expression, or one per key of an object."""

    expression: jmespath_bounded.Expression | None = None
    fields: tuple[tuple[str, jmespath_bounded.Expression], ...] = ()

    def search(
        self, data: Any, *, max_bytes: int = MAX_BODY_BYTES, input_bytes: int | None = None
    ) -> Any:
        """``data`` reshaped; UnprocessableEntity (422) when an expression fails on it.

        Every expression of the transform shares one budget (triggers/jmespath_bounded.py):
        that of a body of ``input_bytes`` bytes, and no value it makes larger than
        ``max_bytes`` as JSON.
        """
        evaluation = jmespath_bounded.Evaluation(max_bytes=max_bytes, input_bytes=input_bytes)
        if self.expression is not None:
            return _search(evaluation, self.expression, data, "")
        return {
            key: _search(evaluation, compiled, data, f" (key {key!r})")
            for key, compiled in self.fields
        }


def _search(
    evaluation: jmespath_bounded.Evaluation,
    compiled: jmespath_bounded.Expression,
    data: Any,
    where: str,
) -> Any:
    try:
        return evaluation.search(compiled, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise UnprocessableEntity(
            f"Output transform failed on this payload{where}: {exc}",
            code="output_transform_failed",
        ) from exc


def _compile_jmespath(expression: Any, path: str) -> jmespath_bounded.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"{path}: must be a non-empty JMESPath expression")
    try:
        return jmespath_bounded.compile_expression(expression)
    except jmespath_bounded.ExpressionTooComplex as exc:
        raise ValueError(f"{path}: {exc}") from None
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"{path}: invalid JMESPath expression: {exc}") from None


def compile_output_transform(spec: Any) -> OutputTransform | None:
    """The compiled ``outputTransform`` (checked at save; ValueError naming the field).

    ``{"jmespath": "<expr>"}``: the payload is what the expression selects.
    ``{"objectTransformation": {"<key>": "<expr>", …}}``: the payload is an object with those
    keys, each the result of its own expression on the body (a missing path gives null).
    ``jmespath`` wins when both are given (both are still checked). A plain string is a
    JMESPath expression (the shape stored before). An object whose fields are all empty or
    absent is no transform: None.
    """
    if not isinstance(spec, dict):
        return OutputTransform(expression=_compile_jmespath(spec, "outputTransform"))
    unknown = sorted(set(spec) - {"jmespath", "objectTransformation"})
    if unknown:
        raise ValueError(f"outputTransform.{unknown[0]}: unknown field")
    expression = spec.get("jmespath")
    if expression is not None and not isinstance(expression, str):
        raise ValueError("outputTransform.jmespath: must be a string")
    fields = spec.get("objectTransformation")
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("outputTransform.objectTransformation: must be an object")
    compiled_fields = tuple(
        (key, _compile_jmespath(path, f"outputTransform.objectTransformation.{key}"))
        for key, path in (fields or {}).items()
    )
    if expression and expression.strip():
        return OutputTransform(expression=_compile_jmespath(expression, "outputTransform.jmespath"))
    if compiled_fields:
        return OutputTransform(fields=compiled_fields)
    return None


def apply_output_transform(
    transform: Any, data: Any, *, max_bytes: int = MAX_BODY_BYTES, input_bytes: int | None = None
) -> Any:
    """``data`` reshaped by ``transform``: an ``outputTransform`` setting (compiled here) or
    what compile_output_transform returned. No transform gives ``data`` itself.

    Raises UnprocessableEntity (422) when an expression fails on this payload, e.g. a function
    given the wrong type, or is stopped (OutputTransform.search: its budget is spent, or it
    makes a value larger than ``max_bytes``); ValueError when the setting does not compile.
    """
    if not isinstance(transform, OutputTransform):
        transform = compile_output_transform(transform)
    if transform is None:
        return data
    return transform.search(data, max_bytes=max_bytes, input_bytes=input_bytes)


def check_transformed(payload: Any, *, max_bytes: int) -> None:
    """UnprocessableEntity (422 ``output_transform_failed``) when the transformed payload
    cannot be stored or is larger than ``max_bytes`` as JSON: a transform may reshape a
    delivery, not multiply it (``{"a": "@", "b": "@", …}``) or make numbers it cannot hold."""
    problem = storable.json_problem(payload, max_bytes=max_bytes)
    if problem is not None:
        raise UnprocessableEntity(
            f"Output transform result cannot be stored: {problem}.",
            code="output_transform_failed",
        )
