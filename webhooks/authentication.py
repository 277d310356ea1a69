"""Checking a trigger's `authentication` setting against an incoming webhook request.

Shapes (the secret itself lives in the credential store; the caller decrypts it and passes it in):

    {"type": "none"}
    {"type": "api_key", "header": "X-API-Key", "credentialReferenceId": "cred_..."}
    {"type": "bearer", "credentialReferenceId": "cred_..."}       # Authorization: Bearer <secret>
    {"type": "basic", "username": "acme", "credentialReferenceId": "cred_..."}  # secret = password

`header` defaults to X-API-Key. This runs alongside signature verification, not instead of it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from webhooks.errors import Unauthorized
from webhooks.payloads import get_header

AUTHENTICATION_TYPES = ("none", "api_key", "bearer", "basic")
DEFAULT_API_KEY_HEADER = "X-API-Key"

_ROOT = "authentication"
_FIELDS = {
    "none": set(),
    "api_key": {"header", "credentialReferenceId"},
    "bearer": {"credentialReferenceId"},
    "basic": {"username", "credentialReferenceId"},
}


def _required_text(config: dict[str, Any], field: str) -> str:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_ROOT}.{field}: is required and must be a non-empty string")
    return value


def validate_authentication_config(config: Any) -> dict[str, Any]:
    """The normalised config (None means {"type": "none"}); ValueError naming the bad field."""
    if config is None:
        return {"type": "none"}
    if not isinstance(config, dict):
        raise ValueError(f"{_ROOT}: must be an object")
    kind = config.get("type")
    if kind not in AUTHENTICATION_TYPES:
        raise ValueError(
            f"{_ROOT}.type: must be one of {', '.join(repr(t) for t in AUTHENTICATION_TYPES)}"
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
    """Return when the request carries the configured credential; raise Unauthorized (401) if not.

    Comparisons are constant-time. The 401 carries a WWW-Authenticate header for bearer and basic.
    Raises ValueError when a secret is needed but `secret` is None (the credential could not be
    loaded: a server-side problem, and failing closed is the safe answer).
    """
    config = validate_authentication_config(config)
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
