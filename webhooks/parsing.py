"""Pipeline steps 1, 4 and 5: the body's size, its parsing (JSON, form-encoded, text) into a
storable value, and Slack's url_verification challenge."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from api import storable
from webhooks.errors import (
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_FORM_FIELDS = 1000

JSON_MEDIA_TYPES = {"application/json"}
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


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
