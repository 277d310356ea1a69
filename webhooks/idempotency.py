"""Pipeline step 7: the delivery's idempotency key.

Idempotency spec (the `idempotencyKey` shape we store on a trigger):

    {"source": "header", "key": "Idempotency-Key"}
    {"source": "body", "path": "data.object.id"}      # a JMESPath expression

With no spec, the first present header of Idempotency-Key, webhook-id, X-GitHub-Delivery wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath.exceptions

from triggers import jmespath_bounded
from webhooks.errors import BadRequest
from webhooks.headers import get_header
from webhooks.parsing import MAX_BODY_BYTES
from webhooks.transforms import compile_jmespath

MAX_IDEMPOTENCY_KEY_LENGTH = 255
DEFAULT_IDEMPOTENCY_HEADERS = ("Idempotency-Key", "webhook-id", "X-GitHub-Delivery")


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
        compile_jmespath(path, "idempotencyKey.path")
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
