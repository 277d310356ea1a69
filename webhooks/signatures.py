"""Generic HMAC webhook signature verification, driven by a trigger's `signatureVerification`.

The config object (the management API's shape, plus our optional `timestamp` extension):

    {
      "algorithm": "sha256" | "sha512" | "sha384" | "sha1" | "md5",
      "encoding": "hex" | "base64",
      "signature": {"source": "header" | "query" | "body", "key": str,
                    "prefix": str | None, "regex": str | None},
      "signedComponents": [{"source": "header" | "query" | "body" | "literal",
                            "key": str | None, "value": str | None,
                            "regex": str | None, "required": bool}],
      "componentJoin": {"strategy": "concatenate", "separator": str},
      "validation": {"allowEmptyBody": bool, "headerCaseSensitive": bool,
                     "normalizeUnicode": bool},
      "timestamp": {"source": "header" | "query" | "body", "key": str,
                    "regex": str | None, "format": "unix" | "iso8601"} | None
    }

How a request is read (as the management API's reference system reads it):
- `key` names a header, a query parameter (its first value), or, for `body`, a JMESPath
  expression into the JSON body. What a body expression finds is used as text: a string as
  is, any other value as compact JSON (`{"a":1}`, `5`, `true`); null or nothing is missing.
- The signature: its `prefix` is stripped when the value starts with it (a value without it is
  kept as is), then `regex` picks group 1 (the whole match when it has no group). Unlike the
  reference system, which takes the first match, every match is a candidate and any of them
  may verify, because Stripe sends one `v1=` per active secret while rolling them (and
  Standard Webhooks one `v1,` per key). Without a regex the whole value is one candidate.
- A component (and the timestamp) uses the first match of its `regex`: group 1 if the regex
  has a group, else the whole match; a regex that does not match makes it missing. A `body`
  component without a `key` is the raw body bytes (a `regex` then matches the raw bytes);
  `literal` is its `value`. Regexes are RE2's, linear in the input (patterns.py).
- Components are joined in order with `componentJoin.separator`. A missing component that is
  `required` (the default) is a 401; one that is not counts as "" and the separator is still
  inserted (`a..c` for a missing middle component with separator ".").
- `normalizeUnicode` NFC-normalises string components (header, query, literal, a body
  expression's text); the raw body is never altered, because senders sign the exact bytes.
- `allowEmptyBody: false` refuses a request whose joined string is empty with a BadRequest
  (400), after the signature was found and before any HMAC. Every other failure is
  Unauthorized (401).
- `timestamp` (our extension) names the signed timestamp; a request whose timestamp is more than
  `tolerance_seconds` away from now is rejected (401), which stops replays of captured requests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import jmespath.exceptions

from triggers import jmespath_bounded
from webhooks.errors import BadRequest, Unauthorized
from webhooks.headers import get_header
from webhooks.patterns import compile_pattern

ALGORITHMS = {
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "sha384": hashlib.sha384,
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
}
ENCODINGS = ("hex", "base64")
SIGNATURE_SOURCES = ("header", "query", "body")
COMPONENT_SOURCES = ("header", "query", "body", "literal")
TIMESTAMP_FORMATS = ("unix", "iso8601")
DEFAULT_TOLERANCE_SECONDS = 300

_ROOT = "signatureVerification"
_DEFAULT_VALIDATION = {
    "allowEmptyBody": True,
    "headerCaseSensitive": False,
    "normalizeUnicode": False,
}


# --- configuration -------------------------------------------------------------------------


def _object(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        # A typo in a security setting must not be silently ignored.
        raise ValueError(f"{path}.{unknown[0]}: unknown field")
    return value


def _choice(value: Any, path: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{path}: must be one of {', '.join(repr(c) for c in choices)}")
    return value


def _text(value: Any, path: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{path}: is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{path}: must be a string")
    return value


def _flag(value: Any, path: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{path}: must be true or false")
    return value


def _regex(value: Any, path: str) -> str | None:
    pattern = _text(value, path, required=False)
    if pattern is None:
        return None
    try:
        compiled = compile_pattern(pattern)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if compiled.groups > 1:
        raise ValueError(f"{path}: must have at most one capturing group")
    return pattern


@lru_cache(maxsize=1024)
def _body_path(expression: str) -> jmespath_bounded.Expression:
    """The compiled JMESPath of a `body` key (cached); JMESPathError when it does not parse
    or is too long or deep (triggers/jmespath_bounded.py)."""
    return jmespath_bounded.compile_expression(expression)


def _key(value: Any, path: str, source: str, *, required: bool) -> str | None:
    key = _text(value, path, required=required)
    if key is not None and source == "body":
        try:
            _body_path(key)
        except jmespath_bounded.ExpressionTooComplex as exc:
            raise ValueError(f"{path}: {exc}") from None
        except jmespath.exceptions.JMESPathError as exc:
            raise ValueError(f"{path}: invalid JMESPath expression: {exc}") from None
    return key


def _signature_spec(value: Any, path: str) -> dict[str, Any]:
    spec = _object(value, path, {"source", "key", "prefix", "regex"})
    source = _choice(spec.get("source"), f"{path}.source", SIGNATURE_SOURCES)
    return {
        "source": source,
        "key": _key(spec.get("key"), f"{path}.key", source, required=True),
        "prefix": _text(spec.get("prefix"), f"{path}.prefix", required=False),
        "regex": _regex(spec.get("regex"), f"{path}.regex"),
    }


def _component_spec(value: Any, path: str) -> dict[str, Any]:
    spec = _object(value, path, {"source", "key", "value", "regex", "required"})
    source = _choice(spec.get("source"), f"{path}.source", COMPONENT_SOURCES)
    return {
        "source": source,
        "key": _key(spec.get("key"), f"{path}.key", source, required=source in ("header", "query")),
        "value": _text(spec.get("value"), f"{path}.value", required=source == "literal"),
        "regex": _regex(spec.get("regex"), f"{path}.regex"),
        "required": _flag(spec.get("required"), f"{path}.required", True),
    }


def _timestamp_spec(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = _object(value, path, {"source", "key", "regex", "format"})
    source = _choice(spec.get("source"), f"{path}.source", SIGNATURE_SOURCES)
    return {
        "source": source,
        "key": _key(spec.get("key"), f"{path}.key", source, required=True),
        "regex": _regex(spec.get("regex"), f"{path}.regex"),
        "format": _choice(spec.get("format", "unix"), f"{path}.format", TIMESTAMP_FORMATS),
    }


class _Normalised(dict):
    """A config validate_signature_config returned: verify_signature does not check it again."""


def validate_signature_config(config: Any) -> dict[str, Any]:
    """The normalised config with every default filled in (verify_signature takes it as is).

    Raises ValueError whose message starts with the path of the first bad field, e.g.
    "signatureVerification.signedComponents[1].regex: invalid regular expression: ...".
    """
    config = _object(
        config,
        _ROOT,
        {
            "algorithm",
            "encoding",
            "signature",
            "signedComponents",
            "componentJoin",
            "validation",
            "timestamp",
        },
    )
    components = config.get("signedComponents")
    if not isinstance(components, list) or not components:
        raise ValueError(f"{_ROOT}.signedComponents: must be a non-empty list")
    join = _object(
        config.get("componentJoin") or {}, f"{_ROOT}.componentJoin", {"strategy", "separator"}
    )
    separator = "" if join.get("separator") is None else join["separator"]
    if not isinstance(separator, str):
        raise ValueError(f"{_ROOT}.componentJoin.separator: must be a string")
    validation = _object(
        config.get("validation") or {}, f"{_ROOT}.validation", set(_DEFAULT_VALIDATION)
    )
    return _Normalised(
        {
            "algorithm": _choice(config.get("algorithm"), f"{_ROOT}.algorithm", tuple(ALGORITHMS)),
            "encoding": _choice(config.get("encoding"), f"{_ROOT}.encoding", ENCODINGS),
            "signature": _signature_spec(config.get("signature"), f"{_ROOT}.signature"),
            "signedComponents": [
                _component_spec(c, f"{_ROOT}.signedComponents[{i}]")
                for i, c in enumerate(components)
            ],
            "componentJoin": {
                "strategy": _choice(
                    join.get("strategy", "concatenate"),
                    f"{_ROOT}.componentJoin.strategy",
                    ("concatenate",),
                ),
                "separator": separator,
            },
            "validation": {
                name: _flag(validation.get(name), f"{_ROOT}.validation.{name}", default)
                for name, default in _DEFAULT_VALIDATION.items()
            },
            "timestamp": _timestamp_spec(config.get("timestamp"), f"{_ROOT}.timestamp"),
        }
    )


# --- reading the request -------------------------------------------------------------------


class _Request:
    """The parts of a request a config can point at, with the JSON body decoded at most once."""

    def __init__(
        self,
        headers: Mapping[str, str],
        query: Mapping[str, Any],
        body: bytes,
        case_sensitive: bool,
    ):
        self.headers = headers
        self.query = query
        self.body = body
        self.case_sensitive = case_sensitive
        self._json: Any = ...
        self._evaluation: jmespath_bounded.Evaluation | None = None

    def json_body(self) -> Any:
        if self._json is ...:
            try:
                self._json = json.loads(self.body)
            except (ValueError, RecursionError):
                self._json = None
        return self._json

    def lookup(self, source: str, key: str) -> str | None:
        """The text at `key` in `source`, or None when it is absent."""
        if source == "header":
            return get_header(self.headers, key, case_sensitive=self.case_sensitive)
        if source == "query":
            value = self.query.get(key)
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return value
        if self._evaluation is None:  # one budget for every body key of the request
            self._evaluation = jmespath_bounded.Evaluation(input_bytes=len(self.body))
        try:
            found = self._evaluation.search(_body_path(key), self.json_body())
        except jmespath.exceptions.JMESPathError:  # failed or too costly: missing
            return None
        return _as_text(found)


def _as_text(value: Any) -> str | None:
    """What a body expression found, as signed text: a string as is, else compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _first_match(pattern: str | bytes | None, text: str | bytes) -> str | bytes | None:
    if pattern is None:
        return text
    compiled = compile_pattern(pattern)
    match = compiled.search(text)
    if match is None:
        return None
    return match.group(1) if compiled.groups else match.group(0)


def _signature_candidates(spec: dict[str, Any], request: _Request) -> list[str]:
    raw = request.lookup(spec["source"], spec["key"])
    if raw is None:
        return []
    prefix = spec["prefix"]
    if prefix and raw.startswith(prefix):
        raw = raw[len(prefix) :]
    if spec["regex"]:
        compiled = compile_pattern(spec["regex"])
        found = [m.group(1) if compiled.groups else m.group(0) for m in compiled.finditer(raw)]
    else:
        found = [raw]
    return [c.strip() for c in found if c and c.strip()]


def _decode_signature(candidate: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(candidate)
        return base64.b64decode(candidate, validate=True)
    except (ValueError, binascii.Error):
        return None


def _component_bytes(component: dict[str, Any], request: _Request, normalize: bool) -> bytes | None:
    source = component["source"]
    if source == "body" and component["key"] is None:
        if component["regex"] is None:
            return request.body
        # Matched on the raw bytes, so the component is exactly what the sender signed.
        return _first_match(component["regex"].encode("utf-8"), request.body)
    if source == "literal":
        text = component["value"]
    else:
        text = request.lookup(source, component["key"])
        if text is not None:
            text = _first_match(component["regex"], text)
    if text is None:
        return None
    if normalize:
        text = unicodedata.normalize("NFC", text)
    return text.encode("utf-8")


def _signed_message(config: dict[str, Any], request: _Request) -> bytes:
    normalize = config["validation"]["normalizeUnicode"]
    parts = []
    for component in config["signedComponents"]:
        value = _component_bytes(component, request, normalize)
        if value is None:
            if component["required"]:
                name = component["key"] or component["source"]
                raise Unauthorized(
                    f"Missing signed component {name!r} ({component['source']}).",
                    code="missing_signed_component",
                )
            value = b""  # the separator around it stays, as the reference system joins
        parts.append(value)
    return config["componentJoin"]["separator"].encode("utf-8").join(parts)


def _timestamp_seconds(spec: dict[str, Any], request: _Request) -> float:
    raw = request.lookup(spec["source"], spec["key"])
    text = None if raw is None else _first_match(spec["regex"], raw)
    if text is None:
        raise Unauthorized(
            f"Missing timestamp {spec['key']!r} ({spec['source']}).", code="missing_timestamp"
        )
    try:
        if spec["format"] == "unix":
            seconds = float(text)
            # float() accepts "nan" and "inf", which would compare as inside any window.
            if not math.isfinite(seconds):
                raise ValueError("not finite")
            return seconds
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("no timezone")
        return moment.timestamp()
    except ValueError as exc:
        raise Unauthorized(
            f"Timestamp {text!r} is not a valid {spec['format']} time.", code="invalid_timestamp"
        ) from exc


# --- verification --------------------------------------------------------------------------


def verify_signature(
    config: dict[str, Any],
    *,
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    query: Mapping[str, Any],
    body: bytes,
    now: float | None = None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return when one signature on the request is a valid HMAC of it under one of `secrets`.

    Several secrets (rotation) and several signatures per request are accepted; any pair that
    matches passes. Raises Unauthorized (401) for a missing or non-matching signature, a missing
    required component, or a timestamp outside `now` ± `tolerance_seconds`; BadRequest (400) for
    an empty signed string the config forbids (`allowEmptyBody: false`); ValueError for an
    invalid config or no secrets (server-side misconfiguration, never the sender's fault).
    """
    if not isinstance(config, _Normalised):
        config = validate_signature_config(config)
    if not secrets:
        raise ValueError("verify_signature needs at least one secret")

    request = _Request(headers, query, body, config["validation"]["headerCaseSensitive"])
    spec = config["signature"]
    candidates = _signature_candidates(spec, request)
    if not candidates:
        raise Unauthorized(
            f"Missing signature {spec['key']!r} ({spec['source']}).", code="missing_signature"
        )
    message = _signed_message(config, request)
    if not message and not config["validation"]["allowEmptyBody"]:
        raise BadRequest("The signed content of the request is empty.", code="empty_body")

    digestmod = ALGORITHMS[config["algorithm"]]
    expected = [hmac.new(secret, message, digestmod).digest() for secret in secrets]
    given = [
        sig for c in candidates if (sig := _decode_signature(c, config["encoding"])) is not None
    ]
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        raise Unauthorized("Signature does not match the request.", code="invalid_signature")

    # Checked after the HMAC so an unauthenticated caller learns nothing but "invalid signature".
    if config["timestamp"] is not None:
        sent_at = _timestamp_seconds(config["timestamp"], request)
        current = time.time() if now is None else now
        if abs(current - sent_at) > tolerance_seconds:
            raise Unauthorized(
                f"Timestamp is outside the tolerance window of {tolerance_seconds:g} seconds.",
                code="stale_timestamp",
            )


def signature_header_names(config: dict[str, Any] | None) -> frozenset[str]:
    """The lower-cased header a normalised config reads the signature from (none when it is
    in the query or body): never kept on a stored request."""
    spec = (config or {}).get("signature") or {}
    return frozenset({spec["key"].lower()}) if spec.get("source") == "header" else frozenset()


def signature_query_names(config: dict[str, Any] | None) -> frozenset[str]:
    """The query parameter a normalised config reads the signature from: never stored."""
    spec = (config or {}).get("signature") or {}
    return frozenset({spec["key"]}) if spec.get("source") == "query" else frozenset()
