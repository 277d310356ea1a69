"""The webhook endpoints: thin Django views over webhooks.delivery.

Plain Django, not DRF: senders are machines with their own authentication scheme (checked
by the pipeline), there is no session or CSRF, and the hot path stays short. Not inside a
transaction: the firing commits before the response is built, so a 2xx is only ever sent
for a stored execution. Every refusal is ``application/problem+json`` (api/errors.py).
"""

import json
import logging

from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from api.errors import PROBLEM_ERRORS, refusal_error
from webhooks import delivery
from webhooks.errors import BadRequest, InternalError, WebhookRejected
from webhooks.pipeline import WebhookRequest

logger = logging.getLogger(__name__)


def _json(status: int, body: dict, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
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


def webhook_request(request) -> WebhookRequest:
    """The delivery as the pipeline reads it; reads the body (Django keeps it for a second
    call)."""
    return WebhookRequest(
        body=request.body,
        headers=request.headers,
        # Most deliveries have no query string: no QueryDict built for them.
        query=dict(request.GET.lists()) if request.META.get("QUERY_STRING") else {},
        content_type=request.content_type and request.META.get("CONTENT_TYPE"),
        method=request.method,
    )


# Set in the request's environ once the webhook handler's lean way has tried the delivery
# (config/handlers.py), so the usual way does not run the remembered trigger's pipeline again.
REMEMBERED_TRIED = "webhooks.remembered_tried"


def _receive(request, **lookup) -> HttpResponse:
    remembered = "skip" if request.META.get(REMEMBERED_TRIED) else "try"
    result = _deliver(request, remembered, **lookup)
    if isinstance(result, delivery.Ingested):
        return _json(result.status, result.body, result.headers)
    return result


def _deliver(request, remembered: str, **lookup) -> delivery.Ingested | HttpResponse | None:
    """The delivery's outcome (``delivery.receive``), or its refusal as problem+json."""
    try:
        _check_host(request)
        # The method is the trigger's (webhook_method): checked once it is found, 405 + Allow.
        return delivery.receive(
            **lookup,
            remembered=remembered,
            method=request.method,
            content_length=request.META.get("CONTENT_LENGTH"),
            transfer_encoding=request.META.get("HTTP_TRANSFER_ENCODING"),
            read=lambda: webhook_request(request),
        )
    except WebhookRejected as rejected:
        return PROBLEM_ERRORS.http_response(rejected.api_error(), request, rejected.headers)
    except Exception as exc:  # still problem+json for the sender, and the traceback in the log
        refused = refusal_error(exc)  # a firing rule's 409 or 429
        if refused is not None:
            return PROBLEM_ERRORS.http_response(refused[0], request, refused[1])
        logger.exception("Webhook delivery to %s failed", request.path)
        rejected = InternalError("The delivery could not be processed.")
        return PROBLEM_ERRORS.http_response(rejected.api_error(), request)


def receive_remembered(request) -> delivery.Ingested | HttpResponse | None:
    """A delivery to a remembered trigger (webhooks.delivery.receive_remembered), for the
    webhook handler to answer before URL resolution and the view stack (config/handlers.py):
    the stored delivery's answer, a refusal that needs no stored state (a host outside
    ALLOWED_HOSTS, an error), or None: nothing was stored, and the request goes the usual
    way.

    The path is read as config/urls.py's delivery routes read it.
    """
    rest = request.path_info.removeprefix("/hooks/")
    if rest.startswith("p/") and len(rest) > 2:
        lookup = {"path": "/" + rest[2:]}
    else:
        token = rest.removesuffix("/")
        if not token or "/" in token:
            return None
        lookup = {"token": token}
    request.META[REMEMBERED_TRIED] = True
    return _deliver(request, "only", **lookup)


@csrf_exempt
def receive_by_token(request, token: str) -> HttpResponse:
    return _receive(request, token=token)


@csrf_exempt
def receive_by_path(request, path: str) -> HttpResponse:
    return _receive(request, path="/" + path)
