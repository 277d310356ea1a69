"""Every way a webhook delivery is refused, in one place.

Each step raises a ``WebhookRejected`` subclass carrying the HTTP status, a stable machine
``code`` and a human ``detail``; the view answers it as ``application/problem+json`` in the
service's problem shape (api/errors.py), with ``errors`` for a body that fails the trigger's
input schema. Configuration mistakes found when a trigger is saved are plain ``ValueError``s
instead (a 400 on the API that saves it), because they are the trigger owner's fault, not
the webhook sender's; a stored setting that no longer compiles is ``TriggerMisconfigured``.
A firing rule's refusal (executions' ``FiringRefused``: 409, or 429 with Retry-After) is
answered by api/errors.py's ``refusal_error``, in the same problem+json.
"""

from __future__ import annotations

from typing import Any

from api.errors import ApiError


class WebhookRejected(Exception):
    """An incoming webhook request that must be answered with an HTTP error."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = errors
        # Response headers the view should add, e.g. WWW-Authenticate on a 401.
        self.headers = headers or {}

    def api_error(self) -> ApiError:
        """This rejection as the API layer writes errors (problem+json, for the view)."""
        extra = {"errors": self.errors} if self.errors is not None else None
        return ApiError(self.status, self.detail, self.code, extra)


class BadRequest(WebhookRejected):
    status = 400
    code = "bad_request"


class Unauthorized(WebhookRejected):
    status = 401
    code = "unauthorized"


class Forbidden(WebhookRejected):
    """The sender is identified but its credential is wrong (a header of ``authentication``)."""

    status = 403
    code = "forbidden"


class NotFound(WebhookRejected):
    status = 404
    code = "not_found"


class MethodNotAllowed(WebhookRejected):
    status = 405
    code = "method_not_allowed"


class Conflict(WebhookRejected):
    """The trigger is not active (before its body is read)."""

    status = 409
    code = "trigger_not_active"


class LengthRequired(WebhookRejected):
    status = 411
    code = "length_required"


class PayloadTooLarge(WebhookRejected):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(WebhookRejected):
    status = 415
    code = "unsupported_media_type"


class UnprocessableEntity(WebhookRejected):
    status = 422
    code = "unprocessable_entity"


class InternalError(WebhookRejected):
    status = 500
    code = "internal_error"


class BadGateway(WebhookRejected):
    """A poll asked for by key (the deprecated polling endpoint) failed at its source."""

    status = 502
    code = "poll_failed"


class TriggerMisconfigured(WebhookRejected):
    """The trigger's stored webhook settings do not compile: its owner must fix them."""

    status = 500
    code = "trigger_misconfigured"
    setting = ""  # which setting, e.g. "inputSchema"
    reason = ""  # why, for the owner (never sent to the webhook's sender)
