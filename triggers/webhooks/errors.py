"""Typed rejections raised by the webhook ingestion steps.

Each step raises a `WebhookRejected` subclass carrying the HTTP status, a stable machine `code`
and a human `detail`; the view turns it into application/problem+json with `problem()`.
Configuration mistakes found when a trigger is saved are plain `ValueError`s instead (→ 400 on
the management API), because they are the trigger owner's fault, not the webhook sender's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


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

    def problem(self) -> dict[str, Any]:
        """The application/problem+json body, in the error shape the rest of the API uses."""
        body: dict[str, Any] = {
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "error": {"code": self.code, "message": self.detail},
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class BadRequest(WebhookRejected):
    status = 400
    code = "bad_request"


class Unauthorized(WebhookRejected):
    status = 401
    code = "unauthorized"


class PayloadTooLarge(WebhookRejected):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(WebhookRejected):
    status = 415
    code = "unsupported_media_type"


class UnprocessableEntity(WebhookRejected):
    status = 422
    code = "unprocessable_entity"
