"""The webhook endpoints: thin Django views over executions.ingestion.

Plain Django, not DRF: senders are machines with their own authentication scheme (checked
by the pipeline), there is no session or CSRF, and the hot path stays short. Not inside a
transaction: ``execution_fire`` commits before the response is built, so a 2xx is only
ever sent for a stored execution.
"""

import json
import logging

from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from executions import ingestion as ingest
from triggers.webhooks.errors import BadRequest, WebhookRejected

logger = logging.getLogger(__name__)


class InternalError(WebhookRejected):
    status = 500
    code = "internal_error"


class MethodNotAllowed(WebhookRejected):
    status = 405
    code = "method_not_allowed"


def _json(status: int, body: dict, content_type: str, headers: dict | None = None):
    response = HttpResponse(json.dumps(body), status=status, content_type=content_type)
    # Set here: deliveries go through a handler without CommonMiddleware (config/handlers.py).
    response["Content-Length"] = len(response.content)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _check_host(request) -> None:
    """ALLOWED_HOSTS, which CommonMiddleware checks on every other path; deliveries go
    through a handler without it (config/handlers.py)."""
    try:
        request.get_host()
    except DisallowedHost:
        detail = "The Host header is not one this service answers to."
        raise BadRequest(detail, code="bad_host") from None


def _problem(rejected: WebhookRejected, instance: str) -> HttpResponse:
    body = {**rejected.problem(), "instance": instance}
    return _json(rejected.status, body, "application/problem+json", rejected.headers)


def _receive(request, **lookup) -> HttpResponse:
    try:
        if request.method != "POST":
            raise MethodNotAllowed("Webhooks are delivered with POST.", headers={"Allow": "POST"})
        _check_host(request)
        result = ingest.receive(
            **lookup,
            content_length=request.META.get("CONTENT_LENGTH"),
            transfer_encoding=request.META.get("HTTP_TRANSFER_ENCODING"),
            read=lambda: ingest.WebhookRequest(
                body=request.body,  # read once; Django keeps it for a second call
                headers=request.headers,
                query=dict(request.GET.lists()),
                content_type=request.content_type and request.META.get("CONTENT_TYPE"),
            ),
        )
    except WebhookRejected as rejected:
        return _problem(rejected, request.path)
    except Exception:  # still problem+json for the sender, and the traceback in the log
        logger.exception("Webhook delivery to %s failed", request.path)
        return _problem(InternalError("The delivery could not be processed."), request.path)
    return _json(result.status, result.body, "application/json", result.headers)


@csrf_exempt
def receive_by_token(request, token: str) -> HttpResponse:
    return _receive(request, token=token)


@csrf_exempt
def receive_by_path(request, path: str) -> HttpResponse:
    return _receive(request, path="/" + path)
