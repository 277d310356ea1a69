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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jmespath
import jmespath.exceptions
import jmespath.parser
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for

from api import storable
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
    """`validator_class` with `pattern`, `patternProperties` and `additionalProperties` on RE2."""
    return validators.extend(
        validator_class,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
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


def validate_input_schema_config(schema: Any) -> None:
    """Raise ValueError (naming the failing schema location) unless `schema` is a valid JSON Schema.

    The dialect comes from `$schema`, defaulting to 2020-12. Remote `$ref`s are never fetched
    (jsonschema's default registry does no retrieval), so a schema cannot make us send requests.
    Its regular expressions must be RE2's, which match in linear time (patterns.py,
    check_schema_patterns).
    """
    if not isinstance(schema, dict):
        raise ValueError("inputSchema: must be a JSON object")
    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"inputSchema{_pointer(exc.absolute_path)}: {exc.message}") from exc
    check_schema_patterns(schema, "inputSchema")


def compile_input_schema(schema: dict[str, Any]) -> Any:
    """A reusable validator for `schema` (its dialect from `$schema`, `format` enforced).

    ValueError (naming the failing schema location) when `schema` is not a valid JSON Schema.
    """
    validate_input_schema_config(schema)
    cls = _validator_class(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_input(schema: Any, data: Any) -> None:
    """Raise UnprocessableEntity (422) listing every violation of `schema` by `data`.

    `schema` is a JSON Schema dict or a validator from compile_input_schema (compiled once per
    trigger). `errors` is a list of {"path": JSON pointer into data, "message": str}, one per
    failing location, sorted by path (indexes numerically) then message. `format` keywords are
    enforced. A None schema accepts anything.
    """
    if schema is None:
        return
    if hasattr(schema, "iter_errors"):  # compiled
        validator = schema
    else:
        cls = _validator_class(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    found = [(list(error.absolute_path), error.message) for error in validator.iter_errors(data)]
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
    raise UnprocessableEntity(
        f"Request body does not match the trigger's input schema ({len(errors)} error(s)).",
        code="input_schema_mismatch",
        errors=errors,
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
        try:
            jmespath.compile(path)
        except jmespath.exceptions.JMESPathError as exc:
            raise ValueError(f"idempotencyKey.path: invalid JMESPath expression: {exc}") from exc
        return {"source": "body", "path": path}
    raise ValueError("idempotencyKey.source: must be one of 'header', 'body'")


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value).strip() or None
    return None


def extract_idempotency_key(
    spec: dict[str, str] | None, headers: Mapping[str, str], data: Any
) -> str | None:
    """The idempotency key of a request, or None when it carries none.

    `spec` as in the module docstring; None tries the default headers in order. A body value
    must be a string or number. Raises BadRequest (400) for a key over 255 characters.
    """
    spec = validate_idempotency_spec(spec)
    if spec is None:
        candidates = (get_header(headers, name) for name in DEFAULT_IDEMPOTENCY_HEADERS)
        key = next((text for c in candidates if (text := _scalar_text(c))), None)
    elif spec["source"] == "header":
        key = _scalar_text(get_header(headers, spec["key"]))
    else:
        try:
            key = _scalar_text(jmespath.search(spec["path"], data))
        except jmespath.exceptions.JMESPathError:
            key = None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadRequest(
            f"Idempotency key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
            code="invalid_idempotency_key",
        )
    return key


@dataclass(frozen=True)
class OutputTransform:
    """A compiled ``outputTransform``: one JMESPath expression, or one per key of an object."""

    expression: jmespath.parser.ParsedResult | None = None
    fields: tuple[tuple[str, jmespath.parser.ParsedResult], ...] = ()

    def search(self, data: Any) -> Any:
        """``data`` reshaped; UnprocessableEntity (422) when an expression fails on it."""
        if self.expression is not None:
            return _search(self.expression, data, "")
        return {key: _search(compiled, data, f" (key {key!r})") for key, compiled in self.fields}


def _search(compiled: jmespath.parser.ParsedResult, data: Any, where: str) -> Any:
    try:
        return compiled.search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise UnprocessableEntity(
            f"Output transform failed on this payload{where}: {exc}",
            code="output_transform_failed",
        ) from exc


def _compile_jmespath(expression: Any, path: str) -> jmespath.parser.ParsedResult:
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"{path}: must be a non-empty JMESPath expression")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"{path}: invalid JMESPath expression: {exc}") from exc


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


def apply_output_transform(transform: Any, data: Any) -> Any:
    """``data`` reshaped by ``transform``: an ``outputTransform`` setting (compiled here) or
    what compile_output_transform returned. No transform gives ``data`` itself.

    Raises UnprocessableEntity (422) when an expression fails on this payload, e.g. a function
    given the wrong type; ValueError when the setting itself does not compile.
    """
    if not isinstance(transform, OutputTransform):
        transform = compile_output_transform(transform)
    return data if transform is None else transform.search(data)


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
