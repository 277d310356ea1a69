"""The management API: an agent's webhook triggers and their invocations.

``/manage/tenants/{tenantId}/projects/{projectId}/agents/{agentId}/triggers`` (GET, POST),
``…/triggers/{id}`` (GET, PATCH, DELETE), ``…/triggers/{id}/rerun`` (POST),
``…/triggers/{id}/invocations`` (GET) and ``…/invocations/{invocationId}`` (GET), as its
contract writes them (docs/management-api.md). Every error is application/problem+json; a
body of the wrong shape is a 400, one a business rule refuses (a credential or user that is
not the tenant's, settings that do not compile, an id taken) a 422. An invocation is an
execution seen through this surface (``INVOCATION_STATUS``). A pause (docs/scheduling.md):
``enabled: false`` takes ``pauseNote`` and ``pausedUntil`` (either alone changes a paused
trigger's); a trigger shows ``pausedAt``, ``pausedBy``, ``pauseNote`` and ``pausedUntil``.
"""

import secrets
import uuid
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from accounts.authentication import BearerTokenAuthentication, SessionTokenCookieAuthentication
from accounts.identifiers import PUBLIC_ID_MAX_LENGTH, PUBLIC_ID_PATTERN, public_id_problem
from accounts.models import Agent, Project
from accounts.selectors import agent_list, user_public_id, user_public_ids
from api.errors import PROBLEM_ERRORS
from api.filtering import StrictFilterForm
from api.openapi import may_refuse
from api.pagination import PageEnvelopePagination
from api.strict import StrictJSONTypes, reject_unstorable
from api.views import RequestIdMixin, TenantScopedMixin
from executions.api.history import HISTORY_HEADERS, with_history_headers
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.selectors import executions_with_status
from executions.services import firing
from triggers import services as trigger_services
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger
from webhooks import authentication, services

# Model field -> this surface's field, for the errors services raise.
MODEL_TO_API = {
    "public_id": "id",
    "input_schema": "inputSchema",
    "output_transform": "outputTransform",
    "message_template": "messageTemplate",
    "signature_verification": "signatureVerification",
    "signing_secret": "signingSecretCredentialReferenceId",
    "status": "enabled",
    "run_as_user_ids": "runAsUserIds",
    "run_as_user": "runAsUserId",
    "pause_note": "pauseNote",
    "paused_until": "pausedUntil",
}
# The one status table of this surface: pending and running are pending, completed is
# success, failed and cancelled are failed.
INVOCATION_STATUS = {
    ExecutionStatus.PENDING: "pending",
    ExecutionStatus.RUNNING: "pending",
    ExecutionStatus.COMPLETED: "success",
    ExecutionStatus.FAILED: "failed",
    ExecutionStatus.CANCELLED: "failed",
}
STATUS_TO_EXECUTION = {
    shown: [s for s, name in INVOCATION_STATUS.items() if name == shown]
    for shown in ("pending", "success", "failed")
}
RUN_AS_HELP = (
    "Members of the tenant, each by the user's public id (a uuid, as shown); the integer id "
    "is accepted too."
)
UNAUTHENTICATED_WARNING = (
    "This trigger has neither authentication nor signatureVerification: anyone who knows its "
    "URL can run the agent."
)


class ManageTriggerSerializer(serializers.ModelSerializer):
    """A webhook trigger as the management API shows it."""

    id = serializers.CharField(source="public_id")
    enabled = serializers.SerializerMethodField()
    inputSchema = serializers.JSONField(source="webhook_endpoint.input_schema")
    outputTransform = serializers.JSONField(source="webhook_endpoint.output_transform")
    messageTemplate = serializers.SerializerMethodField()
    authentication = serializers.SerializerMethodField()
    signatureVerification = serializers.JSONField(source="webhook_endpoint.signature_verification")
    signingSecretCredentialReferenceId = serializers.SerializerMethodField()
    runAsUserIds = serializers.SerializerMethodField()
    runAsUserId = serializers.SerializerMethodField()
    webhookUrl = serializers.CharField(source="webhook_url")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    # Beyond the contract: a pause, null while the trigger is not paused.
    pausedAt = serializers.DateTimeField(source="paused_at", allow_null=True)
    pausedBy = serializers.SerializerMethodField()
    pauseNote = serializers.SerializerMethodField()
    pausedUntil = serializers.DateTimeField(source="paused_until", allow_null=True)

    class Meta:
        model = Trigger
        fields = [
            "id", "name", "description", "enabled", "inputSchema", "outputTransform",
            "messageTemplate", "authentication", "signatureVerification",
            "signingSecretCredentialReferenceId", "runAsUserIds", "runAsUserId", "webhookUrl",
            "createdAt", "updatedAt", "pausedAt", "pausedBy", "pauseNote", "pausedUntil",
        ]  # fmt: skip
        read_only_fields = fields

    def get_enabled(self, trigger) -> bool:
        return trigger.status == "active"

    def get_messageTemplate(self, trigger) -> str | None:
        return trigger.webhook_endpoint.message_template or None

    def get_authentication(self, trigger) -> dict | None:
        return authentication.shown_authentication(trigger.webhook_endpoint.authentication)

    def get_signingSecretCredentialReferenceId(self, trigger) -> str | None:
        secret_id = trigger.webhook_endpoint.signing_secret_id
        return str(secret_id) if secret_id else None

    def get_runAsUserIds(self, trigger) -> list[uuid.UUID]:
        return _shown_users(trigger.run_as_user_ids or [], self.context, trigger)

    def get_runAsUserId(self, trigger) -> uuid.UUID | None:
        shown = _shown_users([trigger.run_as_user_id or ""], self.context, trigger)
        return shown[0] if shown else None

    def get_pausedBy(self, trigger) -> uuid.UUID | None:
        """The user who paused it, by public id (lists select ``paused_by__identity``)."""
        return user_public_id(trigger.paused_by) if trigger.paused_by_id else None

    def get_pauseNote(self, trigger) -> str | None:
        return trigger.pause_note or None


class ManageTriggerInputSerializer(StrictJSONTypes, serializers.Serializer):
    """The body of POST and PATCH (PATCH: every field optional)."""

    id = serializers.RegexField(
        PUBLIC_ID_PATTERN, min_length=1, max_length=PUBLIC_ID_MAX_LENGTH, required=False,
        source="public_id",
    )  # fmt: skip
    name = serializers.CharField(min_length=1, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    enabled = serializers.BooleanField(required=False)
    inputSchema = serializers.JSONField(required=False, allow_null=True, source="input_schema")
    outputTransform = serializers.JSONField(
        required=False, allow_null=True, source="output_transform"
    )
    messageTemplate = serializers.CharField(
        min_length=1, required=False, allow_null=True, trim_whitespace=False,
        source="message_template",
    )  # fmt: skip
    authentication = serializers.JSONField(required=False, allow_null=True)
    signatureVerification = serializers.JSONField(
        required=False, allow_null=True, source="signature_verification"
    )
    signingSecretCredentialReferenceId = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, source="signing_secret_reference"
    )
    runAsUserIds = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, source="run_as_user_ids",
        help_text=RUN_AS_HELP,
    )  # fmt: skip
    runAsUserId = serializers.CharField(
        required=False, allow_null=True, source="run_as_user_id", help_text=RUN_AS_HELP
    )
    # A pause's note and end: with ``enabled: false``, or alone on a paused trigger.
    pauseNote = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=PAUSE_NOTE_MAX_LENGTH,
        source="pause_note",
    )  # fmt: skip
    pausedUntil = serializers.DateTimeField(required=False, allow_null=True, source="paused_until")
    # Accepted as the contract allows them, and ignored: the service keeps its own times.
    createdAt = serializers.CharField(required=False, write_only=True)
    updatedAt = serializers.CharField(required=False, write_only=True)
    # PATCH may repeat where the trigger is; another value is refused (the path decides).
    tenantId = serializers.CharField(max_length=256, required=False, write_only=True)
    projectId = serializers.CharField(max_length=256, required=False, write_only=True)
    agentId = serializers.CharField(max_length=256, required=False, write_only=True)

    def validate(self, attrs):
        for name in ("inputSchema", "outputTransform", "authentication", "signatureVerification"):
            if name in self.initial_data:
                reject_unstorable(self.initial_data[name])
        for name in ("createdAt", "updatedAt"):
            attrs.pop(name, None)
        # What the body alone shows wrong is a 400; a pause of a trigger that is not paused,
        # which depends on the trigger, is the service's refusal (422).
        errors = {}
        if attrs.get("enabled") is True:
            errors.update(
                {api_name: ["Enabling ends the pause: it takes no pause note or until-time."]
                 for name, api_name in (("pause_note", "pauseNote"),
                                        ("paused_until", "pausedUntil")) if name in attrs}
            )  # fmt: skip
        until = attrs.get("paused_until")
        if until is not None and until <= timezone.now():
            errors.setdefault("pausedUntil", ["Must be in the future."])
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RerunSerializer(StrictJSONTypes, serializers.Serializer):
    userMessage = serializers.CharField(min_length=1, trim_whitespace=False)
    messageParts = serializers.ListField(child=serializers.JSONField(), required=False)


class InvocationSerializer(serializers.ModelSerializer):
    """An execution as the management API shows it (an invocation), as the platform's UI
    reads one: ``requestPayload`` is the delivered body itself (parsed), ``transformedPayload``
    what the trigger's outputTransform made of it (the body when it has none); both null for
    an invocation nothing was delivered to (a rerun). The rest of the request as stored
    (webhooks.pipeline.stored_request) is ``requestHeaders`` and ``requestQuery``, without
    the credentials and signatures the pipeline never stores."""

    id = serializers.UUIDField(source="execution_id")
    triggerId = serializers.CharField(source="trigger.public_id")
    status = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    conversationId = serializers.SerializerMethodField()
    errorMessage = serializers.SerializerMethodField()
    requestPayload = serializers.SerializerMethodField()
    transformedPayload = serializers.SerializerMethodField()
    requestHeaders = serializers.SerializerMethodField()
    requestQuery = serializers.SerializerMethodField()
    runAsUserId = serializers.SerializerMethodField()
    # Deliveries this invocation stands for: 1, or with a debounce every delivery merged into
    # it or dropped for it (docs/webhooks.md, "Debounce and throttle"). Additive.
    deliveryCount = serializers.IntegerField(source="delivery_count")

    class Meta:
        model = Execution
        fields = [
            "id", "triggerId", "status", "createdAt", "conversationId", "errorMessage",
            "requestPayload", "transformedPayload", "requestHeaders", "requestQuery",
            "runAsUserId", "deliveryCount",
        ]  # fmt: skip
        read_only_fields = fields

    def get_requestPayload(self, execution) -> Any:
        return _delivered(execution, "body")

    def get_transformedPayload(self, execution) -> Any:
        given = execution.input_data
        if execution.request_payload is None or not isinstance(given, dict):
            return None
        return given.get("payload")

    def get_requestHeaders(self, execution) -> dict[str, str] | None:
        return _delivered(execution, "headers")

    def get_requestQuery(self, execution) -> dict[str, Any] | None:
        return _delivered(execution, "query")

    def get_status(self, execution) -> str:
        return INVOCATION_STATUS[execution.status]

    def get_conversationId(self, execution) -> str | None:
        return execution.conversation_id or None

    def get_errorMessage(self, execution) -> str | None:
        return execution.error_message or None

    def get_runAsUserId(self, execution) -> uuid.UUID | None:
        shown = _shown_users(execution.trigger.run_as(), self.context, execution.trigger)
        return shown[0] if shown else None


def _delivered(execution: Execution, part: str) -> Any:
    """``part`` (body, headers, query) of the request as the webhook pipeline stored it
    (webhooks.pipeline.stored_request); None when nothing was delivered."""
    request = execution.request_payload
    return request.get(part) if isinstance(request, dict) else None


def run_as_context(triggers) -> dict:
    """The serializer context that shows the run-as users of ``triggers`` by public id: one
    query for a whole page (without it, each trigger costs one)."""
    keys = {key for trigger in triggers for key in trigger.run_as()}
    return {"run_as_public_ids": user_public_ids(user_ids=keys)}


def _shown_users(keys, context: dict, trigger: Trigger) -> list[uuid.UUID]:
    """The public ids of the users ``keys`` (stored integer ids) names; a user deleted since is
    left out."""
    public_ids = context.get("run_as_public_ids")
    if public_ids is None:
        public_ids = run_as_context([trigger])["run_as_public_ids"]
    found = (public_ids.get(int(key)) for key in keys if str(key).isdigit())
    return [public_id for public_id in found if public_id is not None]


class InvocationFilterSet(django_filters.FilterSet):
    """``status`` (pending | success | failed) and ``from``/``to`` (ISO 8601 date-times)."""

    status = django_filters.ChoiceFilter(
        choices=[(name, name) for name in STATUS_TO_EXECUTION], method="filter_status"
    )

    class Meta:
        model = Execution
        fields = ["status"]
        form = StrictFilterForm

    def filter_status(self, queryset, name, value):
        return executions_with_status(queryset, STATUS_TO_EXECUTION[value])


# "from" is a Python keyword: the two date filters are added by name.
InvocationFilterSet.base_filters["from"] = django_filters.IsoDateTimeFilter(
    field_name="created_at", lookup_expr="gte"
)
InvocationFilterSet.base_filters["to"] = django_filters.IsoDateTimeFilter(
    field_name="created_at", lookup_expr="lte"
)


def _one(data) -> dict:
    return {"data": data}


class ManageSurface(RequestIdMixin, TenantScopedMixin):
    """What every view of the management API shares: problem+json errors (422 for a rule's
    refusal), the request id, page/limit paging, and the path's tenant, project and agent."""

    error_format = PROBLEM_ERRORS
    field_names = MODEL_TO_API
    domain_error_status = 422
    pagination_class = PageEnvelopePagination
    # bearerAuth or cookieAuth, as the contract lists them; a Django session too (the ops
    # console's users), whose tenant is the path's when the user belongs to several.
    authentication_classes = [
        BearerTokenAuthentication,
        SessionTokenCookieAuthentication,
        SessionAuthentication,
    ]
    path_tenant_kwarg = "tenantId"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated and allowed first
        trigger_id = kwargs.get("id")
        if trigger_id is not None and public_id_problem(trigger_id):
            raise ValidationError(
                {"id": [f"Must match {PUBLIC_ID_PATTERN}, 1 to {PUBLIC_ID_MAX_LENGTH} characters."]}
            )

    def agent(self) -> Agent:
        """The path's agent; a tenant other than the caller's, a project or agent not in it,
        and an agent pending deletion are all not found."""
        if self.kwargs["tenantId"] != self.request.tenant.pk:
            raise NotFound("Tenant not found")
        project = Project.objects.filter(
            tenant=self.request.tenant, public_id=self.kwargs["projectId"]
        ).first()
        if project is None:
            raise NotFound("Project not found")
        agent = (
            agent_list(tenant=self.request.tenant)
            .filter(project=project, public_id=self.kwargs["agentId"])
            .first()
        )
        if agent is None:
            raise NotFound("Agent not found")
        return agent

    def webhook_triggers(self, agent: Agent) -> QuerySet[Trigger]:
        return Trigger.objects.filter(
            agent=agent, provider_id="builtin", provider_trigger_id="webhook"
        ).select_related("agent", "webhook_endpoint", "paused_by__identity")

    def trigger(self) -> Trigger:
        trigger = self.webhook_triggers(self.agent()).filter(public_id=self.kwargs["id"]).first()
        if trigger is None:
            raise NotFound("Trigger not found")
        return trigger


ONE_RESPONSE = inline_serializer("ManageTriggerResponse", {"data": ManageTriggerSerializer()})
CREATED_RESPONSE = inline_serializer(
    "ManageTriggerCreated",
    {"data": ManageTriggerSerializer(), "warning": serializers.CharField(required=False)},
)
RERUN_RESPONSE = inline_serializer(
    "RerunResponse",
    {
        "success": serializers.BooleanField(),
        "invocationId": serializers.UUIDField(),
        "conversationId": serializers.CharField(),
    },
)


class ManageTriggerViewSet(ManageSurface, viewsets.GenericViewSet):
    queryset = Trigger.objects.all()
    serializer_class = ManageTriggerSerializer

    @extend_schema(
        summary="List an agent's webhook triggers, newest first",
        responses={200: ManageTriggerSerializer(many=True)},  # paged: {data, pagination}
    )
    def list(self, request, **kwargs):
        triggers = self.webhook_triggers(self.agent()).order_by("-created_at", "-id")
        page = self.paginate_queryset(triggers)
        shown = ManageTriggerSerializer(page, many=True, context=run_as_context(page))
        return self.get_paginated_response(shown.data)

    @extend_schema(
        summary="Create a webhook trigger",
        request=ManageTriggerInputSerializer,
        responses={201: CREATED_RESPONSE},
    )
    def create(self, request, **kwargs):
        agent = self.agent()
        body = ManageTriggerInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        _no_other_place(values, self.kwargs)
        trigger = services.manage_trigger_create(agent=agent, values=values, user=request.user)
        answer = _one(ManageTriggerSerializer(trigger).data)
        endpoint = trigger.webhook_endpoint
        if not endpoint.authentication and not endpoint.signature_verification:
            answer["warning"] = UNAUTHENTICATED_WARNING
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a webhook trigger", responses={200: ONE_RESPONSE})
    def retrieve(self, request, **kwargs):
        return Response(_one(ManageTriggerSerializer(self.trigger()).data))

    @extend_schema(
        summary="Update a webhook trigger (partial)",
        request=ManageTriggerInputSerializer,
        responses={200: ONE_RESPONSE},
    )
    def partial_update(self, request, **kwargs):
        trigger = self.trigger()
        if isinstance(request.data, dict) and not request.data:
            raise ValidationError("No fields to update")
        body = ManageTriggerInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        if values.get("public_id", trigger.public_id) != trigger.public_id:
            raise ValidationError({"id": ["Must equal the trigger's id in the path."]})
        _no_other_place(values, self.kwargs)
        trigger = services.manage_trigger_update(trigger=trigger, values=values, user=request.user)
        return Response(_one(ManageTriggerSerializer(trigger).data))

    @extend_schema(summary="Delete a webhook trigger", responses={204: None})
    def destroy(self, request, **kwargs):
        trigger_services.trigger_delete(trigger=self.trigger())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Run the trigger now with a message",
        request=RerunSerializer,
        responses={202: RERUN_RESPONSE},
    )
    @may_refuse("409", "429")
    def rerun(self, request, **kwargs):
        trigger = self.trigger()
        body = RerunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation_id = f"conv_{secrets.token_hex(12)}"
        fired = firing.execution_run_now(
            trigger=trigger,
            requested_by=request.user,
            input_data={"message": body.validated_data["userMessage"],
                        "messageParts": body.validated_data.get("messageParts")},
            conversation_id=conversation_id,
        )  # fmt: skip
        return Response(
            {
                "success": True,
                "invocationId": str(fired.execution.execution_id),
                "conversationId": conversation_id,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class InvocationViewSet(ManageSurface, viewsets.GenericViewSet):
    queryset = Execution.objects.all()
    serializer_class = InvocationSerializer
    filterset_class = InvocationFilterSet

    def invocations(self, trigger: Trigger) -> QuerySet[Execution]:
        return (
            Execution.objects.filter(trigger=trigger)
            .select_related("trigger")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        summary="List a trigger's invocations, newest first",
        parameters=[
            OpenApiParameter("from", str, description="ISO 8601 date-time; createdAt ≥ from"),
            OpenApiParameter("to", str, description="ISO 8601 date-time; createdAt ≤ to"),
            *HISTORY_HEADERS,
        ],
    )
    def list(self, request, **kwargs):
        trigger = self.trigger()
        page = self.paginate_queryset(self.filter_queryset(self.invocations(trigger)))
        shown = InvocationSerializer(page, many=True, context=run_as_context([trigger]))
        return with_history_headers(self.get_paginated_response(shown.data), request.tenant)

    @extend_schema(
        summary="Get an invocation",
        responses={200: inline_serializer("InvocationResponse", {"data": InvocationSerializer()})},
    )
    def retrieve(self, request, **kwargs):
        invocation = (
            self.invocations(self.trigger())
            .filter(execution_id=_uuid(self.kwargs["invocationId"]))
            .first()
        )
        if invocation is None:
            raise NotFound("Invocation not found")
        return Response(_one(InvocationSerializer(invocation).data))


def _no_other_place(values: dict, path: dict) -> None:
    """``tenantId``/``projectId``/``agentId`` in a body may only repeat the path's."""
    for name in ("tenantId", "projectId", "agentId"):
        given = values.pop(name, None)
        if given is not None and given != path[name]:
            raise ValidationError({name: [f"Must equal the path's {name} ({path[name]})."]})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
