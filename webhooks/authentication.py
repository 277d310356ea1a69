"""Checking a trigger's `authentication` setting against an incoming webhook request.

Headers (the management API's shape): every listed header must arrive with its value.

    what a client sends   {"headers": [{"name": "X-Token", "value": "…"},
                                       {"name": "X-Env", "keepExisting": true}]}
    what is stored        {"headers": [{"name": "X-Token", "valuePrefix": "tk_8",
                                        "valueHash": "scrypt$16384$8$1$<salt>$<hash>"}]}
    what the API shows    {"headers": [{"name": "X-Token", "valuePrefix": "tk_8"}]}

`store_authentication` turns what a client sends into what is stored (a value is never
stored, only its scrypt hash and a short prefix), `shown_authentication` what is stored into
what is shown. A header that does not arrive is a 401, one with another value a 403.
``{"headers": []}`` (or ``{}``) asks for nothing.

Credential shapes (this project's extension; the secret lives in the credential store, the
caller decrypts it and passes it in):

    {"type": "none"}
    {"type": "api_key", "header": "X-API-Key", "credentialReferenceId": "cred_..."}
    {"type": "bearer", "credentialReferenceId": "cred_..."}       # Authorization: Bearer <secret>
    {"type": "basic", "username": "acme", "credentialReferenceId": "cred_..."}  # secret = password

`header` defaults to X-API-Key; a wrong or missing credential is a 401. Either family runs
alongside signature verification, not instead of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from webhooks.errors import Forbidden, Unauthorized
from webhooks.headers import get_header

AUTHENTICATION_TYPES = ("none", "api_key", "bearer", "basic")
DEFAULT_API_KEY_HEADER = "X-API-Key"

MAX_HEADERS = 20
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 4096
# valuePrefix shows at most this many characters, and never more than a quarter of the value:
# a 32-character token shows 6, an 8-character password 2, a value under 4 characters none.
VALUE_PREFIX_MAX_LENGTH = 6

# scrypt's cost: about 50 ms and 16 MiB per hash, which is what makes a stolen hash useless.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_SALT_BYTES = 16
_HASH_BYTES = 32

_ROOT = "authentication"
_FIELDS = {
    "none": set(),
    "api_key": {"header", "credentialReferenceId"},
    "bearer": {"credentialReferenceId"},
    "basic": {"username", "credentialReferenceId"},
}
# RFC 9110 field names are tokens; values are visible ASCII with inner spaces and tabs (HTTP
# strips the outer ones, and a server decodes other bytes as Latin-1, so they never compare).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?")


# --- the headers shape: storing and showing -------------------------------------------------


def store_authentication(given: Any, stored: Any = None) -> dict[str, Any] | None:
    """What a trigger stores for the ``authentication`` an API client sent.

    Headers: each ``{name, value}`` becomes ``{name, valueHash, valuePrefix}``;
    ``{name, keepExisting: true}`` (or ``{name}`` without a value) keeps the entry of that
    header name in ``stored`` (the trigger's current setting; names compare case-insensitively);
    a ``valuePrefix`` sent back is ignored. ``{}`` and ``{"headers": []}`` store
    ``{"headers": []}``: no authentication. A credential shape (``{type: …}``) is validated and
    stored as given; None stays None.

    Raises ValueError whose message starts with the field, e.g.
    ``authentication.headers[1].value: …`` or ``authentication.headers[0].keepExisting: …``.
    """
    if given is None:
        return None
    if not isinstance(given, dict):
        raise ValueError(f"{_ROOT}: must be an object")
    if not _is_headers_shape(given):
        validate_authentication_config(given)
        return dict(given)
    headers = _header_list(given)
    kept = {entry["name"].lower(): entry for entry in _stored_entries(stored)}
    entries = []
    for index, item in enumerate(headers):
        path = f"{_ROOT}.headers[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{path}: must be an object")
        unknown = sorted(set(item) - {"name", "value", "keepExisting", "valuePrefix"})
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: unknown field")
        name = _header_name(item.get("name"), f"{path}.name")
        keep = item.get("keepExisting", False)
        if not isinstance(keep, bool):
            raise ValueError(f"{path}.keepExisting: must be true or false")
        value = item.get("value")
        if value == "":
            value = None  # an edit form's untouched field: nothing new
        if keep and value is not None:
            raise ValueError(f"{path}: give either a value or keepExisting, not both")
        if value is None:
            existing = kept.get(name.lower())
            if existing is None:
                field = "keepExisting" if keep else "value"
                raise ValueError(
                    f"{path}.{field}: the trigger has no stored value for header {name!r}; "
                    "send its value"
                )
            entries.append({**existing, "name": name})
        else:
            entries.append({"name": name, **hash_header_value(_header_value(value, path))})
    _check_unique(entries)
    return {"headers": entries}


def shown_authentication(stored: Any) -> Any:
    """``authentication`` as an API shows it: headers as ``{name, valuePrefix}`` only (never
    a hash or a value); any other shape, and None, as stored."""
    if not isinstance(stored, dict) or not _is_headers_shape(stored):
        return stored
    return {
        "headers": [
            {"name": entry.get("name"), "valuePrefix": entry.get("valuePrefix", "")}
            for entry in stored.get("headers") or []
            if isinstance(entry, dict)
        ]
    }


def hash_header_value(value: str) -> dict[str, str]:
    """``{"valueHash": "scrypt$N$r$p$<salt>$<hash>", "valuePrefix": …}`` for ``value``
    (a random salt; base64 salt and hash; the prefix rule of VALUE_PREFIX_MAX_LENGTH)."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(value, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, _HASH_BYTES)
    encoded = "$".join(
        ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    )
    return {"valueHash": encoded, "valuePrefix": value_prefix(value)}


def value_prefix(value: str) -> str:
    """The part of a header value shown back: at most 6 characters and a quarter of it."""
    return value[: min(VALUE_PREFIX_MAX_LENGTH, len(value) // 4)]


def _is_headers_shape(config: dict) -> bool:
    return "headers" in config or not config


def _header_list(config: dict) -> list:
    unknown = sorted(set(config) - {"headers"})
    if unknown:
        raise ValueError(f"{_ROOT}.{unknown[0]}: unknown field beside 'headers'")
    headers = config.get("headers")
    if headers is None:
        return []
    if not isinstance(headers, list):
        raise ValueError(f"{_ROOT}.headers: must be a list")
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"{_ROOT}.headers: at most {MAX_HEADERS} headers")
    return headers


def _stored_entries(stored: Any) -> list[dict]:
    if not isinstance(stored, dict) or not isinstance(stored.get("headers"), list):
        return []
    return [
        entry
        for entry in stored["headers"]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and "valueHash" in entry
    ]


def _header_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}: is required and must be a header name")
    if len(value) > MAX_HEADER_NAME_LENGTH or not _TOKEN.fullmatch(value):
        raise ValueError(
            f"{path}: {value[:80]!r} is not a header name (letters, digits and "
            "!#$%&'*+-.^_`|~, at most 256 characters)"
        )
    return value


def _header_value(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}.value: must be a non-empty string")
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        raise ValueError(f"{path}.value: at most {MAX_HEADER_VALUE_LENGTH} characters")
    if not _HEADER_VALUE.fullmatch(value):
        # The value itself never goes into a message: it is a secret.
        raise ValueError(
            f"{path}.value: must be printable ASCII without spaces at either end "
            "(what an HTTP header can carry)"
        )
    return value


def _check_unique(entries: list[dict]) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        name = entry["name"].lower()
        if name in seen:
            raise ValueError(
                f"{_ROOT}.headers[{index}].name: {entry['name']!r} is listed twice "
                "(header names ignore case)"
            )
        seen.add(name)


# --- hashes ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(value: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        value.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=length
    )


def _parse_hash(encoded: Any, path: str) -> tuple[int, int, int, bytes, bytes]:
    """(N, r, p, salt, hash) of a stored ``scrypt$N$r$p$<salt>$<hash>``; ValueError if not."""
    refused = ValueError(f"{path}: must be 'scrypt$N$r$p$<salt>$<hash>' as stored by the API")
    parts = encoded.split("$") if isinstance(encoded, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise refused
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise refused from None
    # Bounds keep a hand-edited row from costing a request more than a few default hashes.
    if (
        not (2 <= n <= 2**16 and n & (n - 1) == 0)
        or not 1 <= r <= 16
        or not 1 <= p <= 2
        or 128 * r * (n + p + 2) > _SCRYPT_MAXMEM
        or not salt
        or len(digest) < 16
    ):
        raise refused
    return n, r, p, salt, digest


class _Verdicts:
    """A bounded LRU set of (stored hash, SHA-256 of a given value), thread-safe."""

    def __init__(self, size: int):
        self._size = size
        self._keys: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        with self._lock:
            if key not in self._keys:
                return False
            self._keys.move_to_end(key)
            return True

    def add(self, key: tuple[str, bytes]) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


# scrypt is slow on purpose, so each process remembers its verdicts: legitimate traffic pays
# one hash per value and process. Refusals have their own, smaller LRU, so a flood of wrong
# values cannot evict the values that pass; it makes a sender retrying the same wrong value
# (and the second check a rejected delivery gets, webhooks/delivery.py) cost no new hash.
_accepted = _Verdicts(4096)
_refused = _Verdicts(256)


def header_value_matches(value: str, value_hash: str) -> bool:
    """Whether ``value`` is the one ``value_hash`` (a stored ``scrypt$…``) was made from.

    Constant-time in the comparison; the verdict is cached per process (see above).
    """
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        return False  # no stored value is this long: refused without hashing
    key = (value_hash, hashlib.sha256(value.encode("utf-8")).digest())
    if key in _accepted:
        return True
    if key in _refused:
        return False
    n, r, p, salt, expected = _parse_hash(value_hash, "valueHash")
    matches = hmac.compare_digest(_scrypt(value, salt, n, r, p, len(expected)), expected)
    (_accepted if matches else _refused).add(key)
    return matches


def check_header_authentication(config: dict[str, Any], *, headers: Mapping[str, str]) -> None:
    """Return when every configured header arrived with its value (config as normalised by
    validate_authentication_config). A missing or empty header raises Unauthorized (401,
    ``missing_credentials``), naming the first; a wrong value Forbidden (403,
    ``invalid_credentials``), naming the first wrong header (never a value). Presence is
    checked for all before any value is hashed, so a request without the headers costs no
    scrypt."""
    expected = config["headers"]
    given = [get_header(headers, entry["name"]) for entry in expected]
    for entry, value in zip(expected, given, strict=True):
        if not value:
            raise Unauthorized(
                f"Missing authentication header {entry['name']!r}.", code="missing_credentials"
            )
    for entry, value in zip(expected, given, strict=True):
        if not header_value_matches(value, entry["valueHash"]):
            raise Forbidden(
                f"Invalid value for header {entry['name']!r}.", code="invalid_credentials"
            )


# --- validation of what is stored -----------------------------------------------------------


def _required_text(config: dict[str, Any], field: str) -> str:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_ROOT}.{field}: is required and must be a non-empty string")
    return value


def _validate_stored_headers(config: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for index, item in enumerate(_header_list(config)):
        path = f"{_ROOT}.headers[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{path}: must be an object")
        if "value" in item:
            raise ValueError(
                f"{path}.value: a header value is never stored in clear; send it through "
                "the management API, which stores its hash"
            )
        unknown = sorted(set(item) - {"name", "valueHash", "valuePrefix"})
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: unknown field")
        name = _header_name(item.get("name"), f"{path}.name")
        _parse_hash(item.get("valueHash"), f"{path}.valueHash")
        prefix = item.get("valuePrefix", "")
        if not isinstance(prefix, str):
            raise ValueError(f"{path}.valuePrefix: must be a string")
        entries.append({"name": name, "valueHash": item["valueHash"], "valuePrefix": prefix})
    _check_unique(entries)
    return {"headers": entries}


def validate_authentication_config(config: Any) -> dict[str, Any]:
    """The normalised stored config (None means {"type": "none"}); ValueError naming the bad
    field. The headers shape must be as ``store_authentication`` stores it (hashed)."""
    if config is None:
        return {"type": "none"}
    if not isinstance(config, dict):
        raise ValueError(f"{_ROOT}: must be an object")
    if _is_headers_shape(config):
        return _validate_stored_headers(config)
    kind = config.get("type")
    if kind not in AUTHENTICATION_TYPES:
        raise ValueError(
            f"{_ROOT}.type: must be one of {', '.join(repr(t) for t in AUTHENTICATION_TYPES)}"
            " (or give 'headers')"
        )
    unknown = sorted(set(config) - _FIELDS[kind] - {"type"})
    if unknown:
        raise ValueError(f"{_ROOT}.{unknown[0]}: unknown field for type {kind!r}")
    normalised: dict[str, Any] = {"type": kind}
    if kind == "api_key":
        header = config.get("header", DEFAULT_API_KEY_HEADER)
        if not isinstance(header, str) or not header.strip():
            raise ValueError(f"{_ROOT}.header: must be a non-empty header name")
        normalised["header"] = header.strip()
    if kind == "basic":
        username = _required_text(config, "username")
        if ":" in username:
            # RFC 7617: the user-id cannot contain a colon, it separates it from the password.
            raise ValueError(f"{_ROOT}.username: must not contain ':'")
        normalised["username"] = username
    if kind != "none":
        normalised["credentialReferenceId"] = _required_text(config, "credentialReferenceId")
    return normalised


def authentication_header_names(config: dict[str, Any]) -> frozenset[str]:
    """The lower-cased names of the headers a normalised config authenticates with (the
    headers shape's, api_key's ``header``): never kept on a stored request."""
    if "headers" in config:
        return frozenset(entry["name"].lower() for entry in config["headers"])
    if config.get("type") == "api_key":
        return frozenset({config["header"].lower()})
    return frozenset()


# --- the credential shapes ------------------------------------------------------------------


def _equal(given: str, expected: str) -> bool:
    # compare_digest on str only accepts ASCII; bytes work for any secret.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _credentials(header: str | None, scheme: str) -> str | None:
    """The credentials after `scheme` (any case) in an Authorization header."""
    if header is None:
        return None
    found_scheme, _, credentials = header.strip().partition(" ")
    if found_scheme.lower() != scheme.lower():
        return None
    return credentials.strip() or None


def _basic_pair(credentials: str | None) -> tuple[str, str] | None:
    if credentials is None:
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def check_authentication(config: Any, *, secret: str | None, headers: Mapping[str, str]) -> None:
    """Return when the request carries the configured credential; raise if not.

    The headers shape needs no ``secret`` and answers as check_header_authentication (401
    missing, 403 wrong). The credential shapes raise Unauthorized (401) with a
    WWW-Authenticate header for bearer and basic. Comparisons are constant-time.
    Raises ValueError when a credential shape needs a secret but ``secret`` is None (the
    credential could not be loaded: a server-side problem, and failing closed is the safe
    answer).
    """
    config = validate_authentication_config(config)
    if "headers" in config:
        check_header_authentication(config, headers=headers)
        return
    kind = config["type"]
    if kind == "none":
        return
    if not secret:
        raise ValueError(f"authentication type {kind!r} needs a secret, none was supplied")

    if kind == "api_key":
        given = get_header(headers, config["header"])
        ok = given is not None and _equal(given.strip(), secret)
        challenge = None
    elif kind == "bearer":
        token = _credentials(get_header(headers, "Authorization"), "Bearer")
        ok = token is not None and _equal(token, secret)
        challenge = "Bearer"
    else:
        pair = _basic_pair(_credentials(get_header(headers, "Authorization"), "Basic"))
        # Both compares always run, so timing does not reveal which half was wrong.
        ok = pair is not None and (_equal(pair[0], config["username"]) & _equal(pair[1], secret))
        challenge = 'Basic realm="webhook", charset="UTF-8"'

    if not ok:
        raise Unauthorized(
            "Missing or invalid credentials.",
            code="invalid_credentials",
            headers={"WWW-Authenticate": challenge} if challenge else None,
        )
