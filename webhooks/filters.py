"""A webhook trigger's own secret, its delivery filters and what its executions' input carries:
the webhook keys of its ``config`` (triggers/config_keys.py; docs/webhooks.md, "The frontend
API's config"). Pure: the pipeline (webhooks/pipeline.py) runs these per request.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from api.timestamps import iso_z
from triggers import config_keys
from webhooks.errors import Forbidden, Unauthorized
from webhooks.headers import get_header

# The header a sender presents the trigger's own secret in; never kept on an execution.
SECRET_HEADER = config_keys.WEBHOOK_SECRET_HEADER


def check_own_secret(digest: str, *, headers: Mapping[str, str]) -> None:
    """``config.authentication_required``: the trigger's own secret must arrive in
    ``X-Webhook-Secret``. Missing: 401 ``missing_credentials``; another value: 403
    ``invalid_credentials`` (as a missing or wrong authentication header); a trigger that
    requires one and has none takes nothing (401 ``credential_missing``)."""
    if not digest:
        raise Unauthorized("The trigger's secret is missing.", code="credential_missing")
    given = get_header(headers, SECRET_HEADER)
    if not given:
        raise Unauthorized(
            f"Missing the trigger's secret in the {SECRET_HEADER} header.",
            code="missing_credentials",
        )
    if not hmac.compare_digest(config_keys.webhook_secret_digest(given), digest):
        raise Forbidden(f"Invalid value for header {SECRET_HEADER!r}.", code="invalid_credentials")


def filtered_reason(
    options: config_keys.WebhookOptions, *, body: bytes, headers: Mapping[str, str]
) -> str | None:
    """Why this delivery is not one the trigger wants (``body_contains``: the raw body, as
    received, must contain the text, case-sensitively; ``required_headers``: each must arrive,
    not empty), or None. The answer names what is missing, never the text sought."""
    for name in options.required_headers:
        if not get_header(headers, name):
            return f"Filtered: the required header {name!r} is missing."
    if options.body_contains and options.body_contains.encode("utf-8") not in body:
        return "Filtered: the body does not contain the text this trigger requires."
    return None


def included_input(
    options: config_keys.WebhookOptions,
    *,
    kept: Mapping[str, Any],
    method: str,
    content_type: str | None,
    body_size: int,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """What the execution's input carries besides ``message`` and ``payload``: ``headers``
    (as kept on the execution: without the ones that carry credentials), ``query`` and
    ``request`` (method, content type, body size in bytes, when it was received), each
    when its ``include_…`` key is true."""
    included: dict[str, Any] = {}
    if options.include_headers:
        included["headers"] = dict(kept["headers"])
    if options.include_query_params:
        included["query"] = dict(kept["query"])
    if options.include_request_metadata:
        included["request"] = {
            "method": method,
            "content_type": content_type,
            "content_length": body_size,
            "received_at": iso_z(received_at or datetime.now(UTC)),
        }
    return included
