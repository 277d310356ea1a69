"""Seed 004's error shape: ``{"statusCode": 400, "message": "...", "error": "Bad Request"}``.

Only the flow surface uses it (each of its views returns this handler); the other surfaces
keep their own formats. Field errors become one message naming the field.
"""

from http import HTTPStatus

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler


def _first_message(detail, prefix: str = "") -> str:
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        name = "" if key in ("__all__", "non_field_errors") else str(key)
        return _first_message(value, f"{prefix}.{name}" if prefix and name else prefix or name)
    if isinstance(detail, list):
        return _first_message(detail[0], prefix) if detail else prefix
    return f"{prefix}: {detail}" if prefix else str(detail)


def flows_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = exception_handler(exc, context)
    if response is None:
        return None
    message = _first_message(response.data)
    response.data = {
        "statusCode": response.status_code,
        "message": message,
        "error": HTTPStatus(response.status_code).phrase,
    }
    return response
