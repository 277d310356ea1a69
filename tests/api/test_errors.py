"""The one exception handler: each kind of error mapped once, written in the view's format."""

import json
import logging

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.services import OutsideAccountTaken
from api.errors import DRF_ERRORS, PROBLEM_ERRORS, STATUS_CODE_ERRORS, ApiError, refusal_error
from executions.policies import Refusal
from executions.services.firing import FiringRefused

PROBLEM_KEYS = {"code", "detail", "instance", "requestId", "status", "title", "error"}


def call(error: Exception, error_format, *, field_names=None, headers=None):
    """GET a DRF view of ``error_format`` that raises ``error``; the rendered response."""

    class Raising(APIView):
        permission_classes = [AllowAny]
        authentication_classes = []

        def get(self, request):
            raise error

    Raising.error_format = error_format
    Raising.field_names = field_names or {}
    request = APIRequestFactory().get("/somewhere/42", headers=headers or {})
    response = Raising.as_view()(request)
    response.render()
    return response


SERVICE_ERROR = ValidationError({"cron_expression": ["Bad cron."], "__all__": ["Nope."]})


def test_a_service_validation_error_is_a_400_in_drf_form_with_the_surface_names():
    response = call(SERVICE_ERROR, DRF_ERRORS, field_names={"cron_expression": "schedule"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "schedule": ["Bad cron."],
        "non_field_errors": ["Nope."],
    }


def test_the_flows_format_gives_one_message_naming_the_field():
    response = call(SERVICE_ERROR, STATUS_CODE_ERRORS, field_names={"cron_expression": "cron"})

    assert json.loads(response.content) == {
        "statusCode": 400,
        "message": "cron: Bad cron.",
        "error": "Bad Request",
    }


def test_the_problem_format_has_exactly_the_documented_members_and_every_message():
    response = call(SERVICE_ERROR, PROBLEM_ERRORS, headers={"X-Request-Id": "req_from_client"})

    body = json.loads(response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert response["X-Request-Id"] == "req_from_client"
    assert set(body) == PROBLEM_KEYS
    assert body == {
        "code": "bad_request",
        "detail": "cron_expression: Bad cron.; Nope.",
        "instance": "/somewhere/42",
        "requestId": "req_from_client",
        "status": 400,
        "title": "Bad Request",
        "error": {"code": "bad_request", "message": "cron_expression: Bad cron.; Nope."},
    }


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ObjectDoesNotExist(), 404, "not_found"),
        (PermissionDenied(), 403, "forbidden"),
        (exceptions.NotAuthenticated(), 403, "forbidden"),  # no authenticator: DRF says 403
        (exceptions.AuthenticationFailed(), 403, "forbidden"),
        (exceptions.MethodNotAllowed("GET"), 405, "method_not_allowed"),
        (exceptions.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (exceptions.Throttled(wait=7), 429, "too_many_requests"),
    ],
)
def test_each_kind_of_error_keeps_its_status_in_every_format(error, status, code):
    for error_format in (DRF_ERRORS, STATUS_CODE_ERRORS, PROBLEM_ERRORS):
        response = call(error, error_format)
        assert response.status_code == status
    problem = json.loads(call(error, PROBLEM_ERRORS).content)
    assert (problem["status"], problem["code"]) == (status, code)


def test_a_retry_after_survives_the_format():
    response = call(exceptions.Throttled(wait=7), PROBLEM_ERRORS)

    assert response["Retry-After"] == "7"


@pytest.mark.parametrize(("wait", "status", "retry_after"), [(None, 409, None), (7, 429, "7")])
def test_a_firing_refusal_is_409_or_429_in_every_format(wait, status, retry_after):
    refused = FiringRefused(Refusal("limit_per_hour", "Over the limit.", wait))

    for error_format in (DRF_ERRORS, STATUS_CODE_ERRORS, PROBLEM_ERRORS):
        response = call(refused, error_format)
        assert response.status_code == status
        assert response.get("Retry-After") == retry_after
    assert json.loads(call(refused, DRF_ERRORS).content)["detail"].startswith("Over the limit.")


def test_a_refusal_error_keeps_the_refusal_s_own_code_and_reason():
    limited = FiringRefused(Refusal("limit_per_day", "Over the limit.", 60))
    spent = FiringRefused(Refusal("single_execution", "Already fired."))

    assert refusal_error(limited) == (
        ApiError(429, "Over the limit.", "rate_limited"),
        {"Retry-After": "60"},
    )
    assert refusal_error(spent) == (ApiError(409, "Already fired.", "trigger_not_active"), {})
    assert refusal_error(OutsideAccountTaken("Taken.")) is None  # a ValidationError: 409 + field


def test_an_unexpected_error_is_a_logged_500_in_the_surface_format(caplog):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = call(RuntimeError("database on fire"), PROBLEM_ERRORS)

    body = json.loads(response.content)
    assert response.status_code == 500
    assert set(body) == PROBLEM_KEYS
    assert body["code"] == "internal_server_error" and "fire" not in body["detail"]
    record = next(r for r in caplog.records if "Internal Server Error" in r.getMessage())
    assert body["requestId"] in record.getMessage()
    assert record.exc_info[0] is RuntimeError  # the traceback is in the log
    flows = json.loads(call(RuntimeError("x"), STATUS_CODE_ERRORS).content)
    assert flows == {
        "statusCode": 500,
        "message": "The server could not process the request.",
        "error": "Internal Server Error",
    }


def test_a_request_id_that_is_not_a_sane_token_is_replaced():
    response = call(PermissionDenied(), PROBLEM_ERRORS, headers={"X-Request-Id": "a b\nc"})

    assert response["X-Request-Id"].startswith("req_")
    assert json.loads(response.content)["requestId"] == response["X-Request-Id"]
