"""One exception handler for every API surface: errors are mapped once, rendered per surface.

Services raise Django's exceptions — ``ValidationError`` keyed by model field names,
``ObjectDoesNotExist``, ``PermissionDenied`` — or a refusal that carries its own
``http_status`` (a firing rule's: ``refusal_error``), and serializers and DRF raise its
``APIException``\\s. ``exception_handler`` (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``) maps them
all to one APIException, renaming model fields to the surface's own names with the view's
``field_names``; the view's ``error_format`` then writes the body:

- ``DRF_ERRORS`` (frontend and agent APIs): ``{"<field>": ["message"]}`` or ``{"detail": …}``;
- ``STATUS_CODE_ERRORS`` (flows API): ``{"statusCode", "message", "error"}``;
- ``PROBLEM_ERRORS`` (management API, webhook deliveries): ``application/problem+json`` with
  ``code``, ``detail``, ``instance``, ``requestId``, ``status``, ``title`` and ``error``.

An unexpected exception is logged with its traceback (and the request id) and answered 500
in the same format, so a client never has to parse another surface's body, or HTML.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.core import signals
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

logger = logging.getLogger("django.request")

# Fixed, not HTTPStatus's phrases: those changed in Python 3.13 (422 "Unprocessable Content",
# 413 "Content Too Large"), and the API contracts spell the older ones.
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,200}")


def status_title(status: int) -> str:
    """The reason phrase of ``status`` (``404`` → ``"Not Found"``)."""
    return _TITLES.get(status) or HTTPStatus(status).phrase


def status_code_name(status: int) -> str:
    """The snake-case code of ``status`` (``404`` → ``"not_found"``)."""
    return status_title(status).lower().replace(" ", "_").replace("-", "_")


def request_id(request) -> str:
    """This request's id: the client's ``X-Request-Id`` when it is a sane token, else a new
    ``req_…``; the same value for the whole request."""
    django_request = getattr(request, "_request", request)
    cached = getattr(django_request, "_request_id", None)
    if cached is None:
        given = django_request.headers.get(REQUEST_ID_HEADER, "")
        cached = given if _REQUEST_ID.fullmatch(given) else f"req_{secrets.token_hex(8)}"
        django_request._request_id = cached
    return cached


# -- rendering -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiError:
    """An error on its way out: status, DRF-style ``detail``, a machine ``code``."""

    status: int
    detail: Any  # a message, or DRF's list/dict of messages for invalid input
    code: str = ""  # a specific code ("invalid_signature"); default: from the status
    extra: dict | None = None  # members a problem+json body adds (a schema's ``errors``)

    def messages(self) -> list[str]:
        """Every message, each prefixed with the field it is about (``"name: …"``)."""
        return list(_flatten(self.detail)) or [status_title(self.status)]


def _flatten(detail: Any, where: str = "") -> Iterator[str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in (NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY) else key
            yield from _flatten(value, f"{where}.{name}" if where and name else where or name)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            yield from _flatten(value, f"{where}[{index}]" if nested else where)
    else:
        yield f"{where}: {detail}" if where else str(detail)


class ErrorFormat:
    """How one surface writes its error bodies (and documents them in OpenAPI)."""

    media_type = "application/json"
    schema_name = "Error"
    schema: dict = {}

    def body(self, error: ApiError, request) -> Any:
        raise NotImplementedError

    def response(self, error: ApiError, request, headers: dict | None = None) -> Response:
        """The error as DRF's Response (from a DRF view)."""
        return Response(
            self.body(error, request),
            status=error.status,
            headers={**self.headers(request), **(headers or {})},
            content_type=self.media_type,
        )

    def http_response(self, error: ApiError, request, headers: dict | None = None):
        """The error as a plain Django response (from a Django view or an error handler)."""
        response = HttpResponse(
            json.dumps(self.body(error, request)), status=error.status, content_type=self.media_type
        )
        # Set here: webhook deliveries pass no CommonMiddleware (config/handlers.py).
        response["Content-Length"] = len(response.content)
        for name, value in {**self.headers(request), **(headers or {})}.items():
            response[name] = value
        return response

    def headers(self, request) -> dict[str, str]:
        return {}


class DRFErrors(ErrorFormat):
    """DRF's own bodies: ``{"<field>": ["message"]}`` for invalid input, else
    ``{"detail": "message"}`` (the frontend and agent APIs)."""

    schema_name = "Error"
    schema = {
        "type": "object",
        "description": (
            'DRF\'s error body: {"detail": "..."} or, for invalid input, '
            '{"<field>": ["message", ...]} naming each bad field.'
        ),
        "additionalProperties": True,
    }

    def body(self, error: ApiError, request) -> Any:
        if isinstance(error.detail, dict | list):
            return error.detail
        return {"detail": error.detail}


class StatusCodeErrors(ErrorFormat):
    """``{"statusCode": 400, "message": "toolName: …", "error": "Bad Request"}`` (the flows
    API): one message, the first, prefixed with the field it is about."""

    schema_name = "FlowError"
    schema = {
        "type": "object",
        "properties": {
            "statusCode": {"type": "integer"},
            "message": {"type": "string"},
            "error": {"type": "string"},
        },
        "required": ["statusCode", "message", "error"],
    }

    def body(self, error: ApiError, request) -> dict:
        return {
            "statusCode": error.status,
            "message": error.messages()[0],
            "error": status_title(error.status),
        }


class ProblemErrors(ErrorFormat):
    """``application/problem+json`` (RFC 9457) in the management API's shape; every message
    in ``detail``, joined by "; "."""

    media_type = "application/problem+json"
    schema_name = "Problem"
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "requestId": {"type": "string"},
            "status": {"type": "integer"},
            "title": {"type": "string"},
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            },
        },
        "required": ["code", "detail", "instance", "requestId", "status", "title", "error"],
    }

    def body(self, error: ApiError, request) -> dict:
        return problem_body(
            status=error.status,
            detail="; ".join(error.messages()),
            code=error.code,
            instance=request.path,
            request_id=request_id(request),
            **(error.extra or {}),
        )

    def headers(self, request) -> dict[str, str]:
        return {REQUEST_ID_HEADER: request_id(request)}


def problem_body(
    *, status: int, detail: str, code: str = "", instance: str, request_id: str, **extra
) -> dict:
    """The problem+json body every problem-speaking endpoint sends (``extra`` is appended)."""
    code = code or status_code_name(status)
    return {
        "code": code,
        "detail": detail,
        "instance": instance,
        "requestId": request_id,
        "status": status,
        "title": status_title(status),
        "error": {"code": code, "message": detail},
        **extra,
    }


DRF_ERRORS = DRFErrors()
STATUS_CODE_ERRORS = StatusCodeErrors()
PROBLEM_ERRORS = ProblemErrors()


# -- mapping -------------------------------------------------------------------------------


class Conflict(exceptions.APIException):
    """The request is fine but the object's state refuses it (a disabled trigger run)."""

    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class ConflictWithDetail(exceptions.ValidationError):
    """A 409 naming the fields it is about: a service's ValidationError that carries
    ``http_status = 409`` (a name another tenant holds: accounts.services.OutsideAccountTaken)."""

    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    """The body is over DATA_UPLOAD_MAX_MEMORY_SIZE (Django's RequestDataTooBig)."""

    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class UnprocessableEntity(exceptions.ValidationError):
    """Input well-formed but refused by a business rule (a surface that tells the two apart
    answers such errors 422 rather than 400: ``domain_error_status``)."""

    status_code = 422
    default_code = "unprocessable_entity"


def as_api_exception(
    exc: Exception, field_names: dict[str, str], domain_error_status: int = 400
) -> exceptions.APIException | None:
    """``exc`` as a DRF APIException, or None when it is not an error a client caused.

    A service's ValidationError is a 400, or a 422 on a surface whose ``domain_error_status``
    says so (the management API: a body of the right shape that a rule refuses)."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, DjangoValidationError):
        detail = _validation_detail(exc, field_names)
        if getattr(exc, "http_status", None) == 409:  # valid input the state refuses
            return ConflictWithDetail(detail)
        if domain_error_status == 422:
            return UnprocessableEntity(detail)
        return exceptions.ValidationError(detail)
    refused = refusal_error(exc)
    if refused is not None:  # DRF's own 409/429 bodies (Throttled adds when to try again)
        error, _ = refused
        if error.status == 429:
            return exceptions.Throttled(wait=exc.retry_after_seconds, detail=error.detail)
        return Conflict(error.detail)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):  # Django's own refusal of a malformed request
        return exceptions.ParseError("Bad request.")
    return None


def refusal_error(exc: BaseException) -> tuple[ApiError, dict[str, str]] | None:
    """``exc`` as an error and its headers when it is a refusal by the object's state: an
    exception (not a ValidationError) carrying ``http_status`` 409 or 429, ``code`` and
    ``retry_after_seconds`` (executions' FiringRefused); else None.

    The webhook URLs answer it so, in problem+json with its own code; the DRF surfaces get
    it through ``as_api_exception``, in their formats."""
    status = getattr(exc, "http_status", None)
    if status not in (409, 429) or isinstance(exc, DjangoValidationError):
        return None
    headers = {"Retry-After": str(exc.retry_after_seconds)} if status == 429 else {}
    return ApiError(status, str(exc), exc.code), headers


def _validation_detail(error: DjangoValidationError, names: dict[str, str]) -> dict:
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
    return {
        api_settings.NON_FIELD_ERRORS_KEY if key == NON_FIELD_ERRORS else names.get(key, key): (
            messages
        )
        for key, messages in error.message_dict.items()
    }


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: map ``exc`` (see module), render it in the view's format."""
    view, request = context.get("view"), context.get("request")
    error_format: ErrorFormat = getattr(view, "error_format", DRF_ERRORS)
    mapped = as_api_exception(
        exc, getattr(view, "field_names", None) or {}, getattr(view, "domain_error_status", 400)
    )
    if mapped is None:
        return server_error(exc, request, error_format)
    headers = {}
    if getattr(mapped, "auth_header", None):  # set by the view on a 401
        headers["WWW-Authenticate"] = mapped.auth_header
    if getattr(mapped, "wait", None):
        headers["Retry-After"] = str(int(mapped.wait))
    set_rollback()
    return error_format.response(ApiError(mapped.status_code, mapped.detail), request, headers)


def server_error(exc: BaseException, request, error_format: ErrorFormat) -> Response:
    """A 500 in ``error_format``; the traceback and request id go to the log, and Django's
    ``got_request_exception`` is sent as for any uncaught exception."""
    django_request = getattr(request, "_request", request)
    logger.error(
        "Internal Server Error: %s (request id %s)",
        django_request.path,
        request_id(django_request),
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"status_code": 500, "request": django_request},
    )
    set_rollback()
    signals.got_request_exception.send(sender=None, request=django_request)
    error = ApiError(500, "The server could not process the request.")
    return error_format.response(error, django_request)
