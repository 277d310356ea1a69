"""The provider API's delivery endpoints: ``POST /v1/webhooks/{webhook_id}`` and the
deprecated key endpoints ``POST /organizations/{org_id}/triggers/{project_trigger_id}/
{webhook|polling|scheduled}/key/{api_key}``.

DRF views (so the OpenAPI document lists them) without authentication: a delivery is
verified by its signature (the trigger's connection or the provider app's secret), a key
endpoint by the trigger's own key. Refusals are application/problem+json, as every
delivery's.
"""

import uuid

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import PROBLEM_ERRORS, refusal_error
from api.views import RequestIdMixin
from executions.services import firing
from polling.choices import PollStatus
from polling.services import trigger_poll_now
from triggers import services as trigger_services
from triggers.choices import TriggerOrigin
from triggers.models import Trigger
from webhooks import app_events, delivery
from webhooks.errors import (
    BadGateway,
    NotFound,
    Unauthorized,
    WebhookRejected,
)
from webhooks.views import webhook_request

_DELIVERY = {
    "request": {"*/*": {"type": "object", "additionalProperties": True}},
    "responses": {200: {"type": "object"}, 202: {"type": "object"}},
    "auth": [],
}


class _Delivery(RequestIdMixin, APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    error_format = PROBLEM_ERRORS
    # Every refusal a delivery can meet (webhooks/errors.py).
    documented_errors = (
        "400", "401", "403", "404", "409", "411", "413", "415", "422", "429", "500",
    )  # fmt: skip

    def answer(self, call) -> Response:
        """``call()``'s Ingested answer, or its refusal in problem+json."""
        try:
            result = call()
        except WebhookRejected as rejected:
            return PROBLEM_ERRORS.response(rejected.api_error(), self.request, rejected.headers)
        except Exception as exc:
            refused = refusal_error(exc)  # a firing rule's 409 or 429, as the /hooks URLs say it
            if refused is None:
                raise
            return PROBLEM_ERRORS.response(refused[0], self.request, refused[1])
        return Response(result.body, status=result.status, headers=result.headers)


class ProviderWebhookView(_Delivery):
    def answer(self, call) -> Response:
        """The provider API's contract answers every delivery here 200: a stored one too,
        with the body the /hooks URLs answer 202 with (theirs is their contracts' status)."""
        response = super().answer(call)
        if response.status_code == 202:
            response.status_code = 200
        return response

    @extend_schema(
        summary="A webhook delivery: to a project trigger (its uuid) or a provider app "
        "(slack, github, stripe)",
        **{**_DELIVERY, "responses": {200: {"type": "object"}}},
    )
    def post(self, request, webhook_id=None):
        trigger_uuid = _uuid_or_none(webhook_id)
        django_request = request._request
        if trigger_uuid is not None:
            return self.answer(
                lambda: delivery.receive(
                    trigger_uuid=trigger_uuid,
                    content_length=django_request.META.get("CONTENT_LENGTH"),
                    transfer_encoding=django_request.META.get("HTTP_TRANSFER_ENCODING"),
                    read=lambda: webhook_request(django_request),
                )
            )

        def app_event():
            delivery.check_declared_size(
                django_request.META.get("CONTENT_LENGTH"),
                django_request.META.get("HTTP_TRANSFER_ENCODING"),
            )
            return app_events.receive_app_event(webhook_id, webhook_request(django_request))

        return self.answer(app_event)


class TriggerKeyView(_Delivery):
    """Deprecated: a trigger reached by its own key instead of a signature."""

    documented_errors = (*_Delivery.documented_errors, "502")  # a poll's source failed

    @extend_schema(
        summary="Deliver to, poll or run a trigger by its key (deprecated)",
        deprecated=True,
        parameters=[
            OpenApiParameter("trigger_id", str, required=False),
            OpenApiParameter("provider_id", str, required=False),
        ],
        **_DELIVERY,
    )
    def post(self, request, org_id=None, project_trigger_id=None, kind=None, api_key=None):
        def keyed():
            trigger = _keyed_trigger(org_id, project_trigger_id, api_key)
            if trigger.trigger_type is None or trigger.trigger_type.kind != kind:
                raise NotFound(f"This trigger is not a {kind} trigger.")
            if kind == "webhook":
                django_request = request._request
                delivery.check_accepting(trigger)
                delivery.check_declared_size(
                    django_request.META.get("CONTENT_LENGTH"),
                    django_request.META.get("HTTP_TRANSFER_ENCODING"),
                )
                found = delivery.find_trigger(trigger_uuid=trigger.uuid)
                return delivery.ingest(found, webhook_request(django_request))
            if kind == "polling":
                return _poll_now(trigger)
            return _run_now(trigger)

        return self.answer(keyed)


def _keyed_trigger(org_id: str, project_trigger_id: str, api_key: str) -> Trigger:
    trigger = Trigger.objects.filter(
        tenant_id=org_id, uuid=_uuid_or_none(project_trigger_id), origin=TriggerOrigin.PROVIDER
    ).first()
    if trigger is None:
        raise NotFound("No trigger here.")
    if not trigger_services.trigger_key_matches(trigger=trigger, key=api_key):
        raise Unauthorized("Wrong key.", code="invalid_key")
    return trigger


def _run_now(trigger: Trigger) -> delivery.Ingested:
    """A scheduled trigger's key runs it now, under the firing rules."""
    with transaction.atomic():
        fired = firing.execution_run_now(trigger=trigger, input_data={"via": "key"})
    execution = fired.execution
    return delivery.Ingested(
        202, {"execution_id": str(execution.execution_id), "status": execution.status}
    )


def _poll_now(trigger: Trigger) -> delivery.Ingested:
    """A polling trigger's key polls it now, as a scheduled poll would (docs/polling.md):
    200 with what the poll fired; 409 when it is not active; 502 when its source failed
    (recorded as a failed poll, as any)."""
    report = trigger_poll_now(trigger=trigger)
    if report.status in (PollStatus.FAILED, PollStatus.THROTTLED):
        raise BadGateway(report.result)
    return delivery.Ingested(200, report.as_json())


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
