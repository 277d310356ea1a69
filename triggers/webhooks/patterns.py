"""Regular expressions a trigger's owner writes, matched against what a webhook's sender sends.

Neither side of such a match is ours: the pattern comes from the trigger's settings
(`signatureVerification` regexes, the input schema's `pattern` and `patternProperties`), the
text from the request. Python's `re` backtracks, so a pattern such as `(a+)+$` takes time
exponential in the length of a crafted header or body, and one request would hold a web
worker until gunicorn's timeout killed it, for every tenant served by it (ReDoS). These
patterns therefore run on RE2 (`google-re2`, Google's engine), which matches in time linear
in the input whatever the pattern.

RE2 reads Python's syntax except for what needs backtracking: lookahead and lookbehind,
backreferences, possessive quantifiers and atomic groups. A pattern that uses them is
refused when the trigger is saved, with RE2's reason. Two smaller differences: `\\d`, `\\w`
and `\\s` are ASCII-only, and `$` matches at the very end only (not before a final newline).
"""

from __future__ import annotations

import functools
from typing import Any

import re2
from jsonschema import validators
from jsonschema.exceptions import ValidationError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the caller, not to stderr


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str | bytes) -> re2._Regexp:
    """The compiled RE2 pattern (cached); ValueError with RE2's reason when it is refused.

    A bytes pattern (UTF-8) matches bytes: the result's groups are slices of the input, so
    bytes that are not UTF-8 pass through unchanged (they are matched by no character class).
    """
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not supported"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression: {reason}") from None


# --- JSON Schema ---------------------------------------------------------------------------
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
                _check(pattern, f"{location}/patternProperties/{_escape(pattern)}")
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
                yield from _schema_keywords(value, f"{pointer}/{_escape(key)}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _schema_keywords(item, f"{pointer}/{index}")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


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
