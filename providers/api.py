"""The provider API (docs/provider-api.md), and the ``/triggers`` paths it shares with the
agent API.

``GET|POST /projects/{project_id}/triggers``, ``GET|DELETE /triggers/{project_trigger_id}``,
``GET /triggers``, ``POST /triggers/{id}/enable|disable``, ``GET /providers/{provider_id}/
triggers[/{trigger_id}]``, ``GET /api/v0/project-triggers/{id}/test-samples``. A trigger is
one object with the fields of both surfaces (``SharedTriggerSerializer``). Errors are DRF's
bodies, as the agent API's. ``disable`` pauses, with an optional body ``{"pause_note",
"paused_until"}`` (the agent API's ``PauseSerializer``; docs/provider-api.md).
"""

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project
from accounts.selectors import user_public_id
from api.strict import StrictJSONTypes, reject_nul_characters
from api.views import TenantScopedViewSet
from polling.errors import PollFailed
from polling.models import PollingState
from providers import services
from triggers import catalog
from triggers import services as trigger_services
from triggers.api.agents import PauseSerializer, TriggerInstanceSerializer
from triggers.choices import TriggerOrigin
from triggers.models import Trigger

SHARED_ORIGINS = (TriggerOrigin.AGENT, TriggerOrigin.PROVIDER)


class SharedTriggerSerializer(TriggerInstanceSerializer):
    """A trigger on the paths the agent and provider APIs share: the agent API's
    ``TriggerInstanceResponse`` and the provider API's project trigger in one object
    (``trigger_instance_id`` = ``project_trigger_id``, ``config`` = ``trigger_config``)."""

    agent_id = serializers.SerializerMethodField()
    project_trigger_id = serializers.UUIDField(source="uuid")
    project_id = serializers.SerializerMethodField()
    project_name = serializers.SerializerMethodField()
    connection_id = serializers.UUIDField(allow_null=True)
    trigger_config = serializers.SerializerMethodField()
    cursor_data = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()

    class Meta(TriggerInstanceSerializer.Meta):
        fields = [
            *TriggerInstanceSerializer.Meta.fields, "project_trigger_id", "project_id",
            "project_name", "connection_id", "provider_id", "trigger_config", "webhook_data",
            "cursor_data", "created_by", "updated_by",
        ]  # fmt: skip
        read_only_fields = fields

    def get_agent_id(self, trigger) -> str | None:
        return trigger.agent.public_id if trigger.agent_id else None

    def get_project_id(self, trigger) -> str | None:
        return trigger.project.public_id if trigger.project_id else None

    def get_project_name(self, trigger) -> str | None:
        return trigger.project.name if trigger.project_id else None

    def get_trigger_config(self, trigger) -> dict:
        return trigger.effective_config()

    def get_cursor_data(self, trigger) -> dict | None:
        """A polling trigger's cursor (polling.PollingState); null for other triggers."""
        state = PollingState.of(trigger)
        return state.cursor if state else None

    def get_created_by(self, trigger) -> uuid.UUID | None:
        return user_public_id(trigger.created_by) if trigger.created_by_id else None

    def get_updated_by(self, trigger) -> uuid.UUID | None:
        return user_public_id(trigger.updated_by) if trigger.updated_by_id else None


class CreatedTriggerSerializer(SharedTriggerSerializer):
    """The create answer: the trigger, and once, its key for the deprecated key endpoints."""

    api_key = serializers.SerializerMethodField()

    class Meta(SharedTriggerSerializer.Meta):
        fields = [*SharedTriggerSerializer.Meta.fields, "api_key"]
        read_only_fields = fields

    def get_api_key(self, trigger) -> str:
        return self.context["api_key"]


class CreateTriggerSerializer(StrictJSONTypes, serializers.Serializer):
    provider_id = serializers.CharField()
    trigger_id = serializers.CharField()
    connection_id = serializers.CharField(required=False, allow_null=True)
    trigger_config = serializers.DictField(
        required=False, allow_null=True, validators=[reject_nul_characters]
    )


class CatalogEntrySerializer(serializers.Serializer):
    trigger_type = serializers.ChoiceField(choices=catalog.TriggerKind.choices, source="kind")
    provider_id = serializers.CharField()
    trigger_id = serializers.CharField()
    trigger_name = serializers.CharField(source="name")
    description = serializers.CharField()
    instructions = serializers.CharField(allow_null=True)
    icon = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()
    webhook_requires_verification = serializers.BooleanField()
    can_get_test_samples = serializers.BooleanField()
    trigger_config_schema = serializers.JSONField(
        source="config_schema", help_text="JSON Schema of trigger_config, for a form."
    )


def _shared_triggers():
    return Trigger.objects.filter(origin__in=SHARED_ORIGINS).select_related(
        "agent", "project", "created_by__identity", "updated_by__identity",
        "paused_by__identity", "polling_state",
    )  # fmt: skip


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class SharedTriggerViewSet(TenantScopedViewSet):
    """``/triggers``: the agent API's and the provider API's triggers of the caller's tenant
    (the organisation), oldest first; ``/triggers/{id}`` one of them."""

    queryset = _shared_triggers().order_by("created_at", "id")
    serializer_class = SharedTriggerSerializer

    def get_object(self) -> Trigger:
        trigger = self.get_queryset().filter(uuid=_uuid_or_none(self.kwargs["id"])).first()
        if trigger is None:
            raise NotFound("Trigger not found")
        return trigger

    @extend_schema(summary="List the organisation's triggers (agent and provider APIs)")
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SharedTriggerSerializer(page, many=True).data)

    @extend_schema(summary="Get a trigger")
    def retrieve(self, request, id=None):
        return Response(SharedTriggerSerializer(self.get_object()).data)

    @extend_schema(summary="Delete a trigger and its executions", responses={204: None})
    def destroy(self, request, id=None):
        trigger_services.trigger_delete(trigger=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Enable a trigger (unfreezes a FAILED one, ends a pause)", request=None)
    def enable(self, request, id=None):
        # A body naming a pause is refused by the service (a 400), not ignored.
        trigger = trigger_services.trigger_enable(
            trigger=self.get_object(),
            updated_by=request.user,
            **PauseSerializer.of_request(request),
        )
        return Response(SharedTriggerSerializer(trigger).data)

    @extend_schema(
        summary="Disable (pause) a trigger, with an optional note and end",
        request=PauseSerializer,
    )
    def disable(self, request, id=None):
        trigger = trigger_services.trigger_disable(
            trigger=self.get_object(),
            updated_by=request.user,
            **PauseSerializer.of_request(request),
        )
        return Response(SharedTriggerSerializer(trigger).data)


class ProjectTriggersViewSet(TenantScopedViewSet):
    """``/projects/{project_id}/triggers``: a project's provider triggers."""

    queryset = Project.objects.all()
    serializer_class = SharedTriggerSerializer
    pagination_class = None  # a project's triggers are listed whole
    field_names = {
        "public_id": "project_id",
        "cron_expression": "trigger_config.schedule",
        "timezone": "trigger_config.timezone",
        "webhook_path": "trigger_config.path",
        **{f"config.{key}": f"trigger_config.{key}"
           for key in catalog.FILE_SYSTEM.config_schema["properties"]},
        # The outside account a trigger names (a 409 when another tenant holds it).
        **{f"config.{key}": f"trigger_config.{key}"
           for key in ("team_id", "repository", "account_id")},
    }  # fmt: skip

    @extend_schema(
        summary="List a project's triggers",
        description="A project no trigger was made for yet has none: an empty list.",
        responses={200: SharedTriggerSerializer(many=True)},
    )
    def list(self, request, project_id=None):
        triggers = _shared_triggers().filter(
            tenant=request.tenant,
            project__tenant=request.tenant,
            project__public_id=project_id,
            origin=TriggerOrigin.PROVIDER,
        )
        return Response(
            SharedTriggerSerializer(triggers.order_by("created_at", "id"), many=True).data
        )

    @extend_schema(
        summary="Create a trigger of a project from the provider catalog (DISABLED until enabled)",
        description="The project is the caller's tenant's; one it has not named before is "
        "made with the trigger (named after its id), and only if the trigger is.",
        request=CreateTriggerSerializer,
        responses={201: CreatedTriggerSerializer},
    )
    def create(self, request, project_id=None):
        body = CreateTriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        trigger, key = services.project_trigger_create_named(
            tenant=request.tenant, project_id=project_id, user=request.user, **body.validated_data
        )
        answer = CreatedTriggerSerializer(trigger, context={"api_key": key}).data
        return Response(answer, status=status.HTTP_201_CREATED)


class SourceUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "source_unavailable"


class TestSamplesView(APIView):
    """A webhook trigger's last five payloads received, newest first, or its catalog entry's
    sample while it has received none. A polling trigger's are up to five of its source's
    current items, newest first, fetched now (``fetched``); its cursor does not move."""

    @extend_schema(
        summary="Test samples of a trigger",
        responses={
            200: inline_serializer(
                "TestSamples",
                {
                    "samples": serializers.ListField(child=serializers.JSONField()),
                    "source": serializers.ChoiceField(choices=["received", "catalog", "fetched"]),
                },
            ),
            502: OpenApiResponse(
                description="A polling trigger's source could not be fetched or read; "
                "`detail` says why."
            ),
        },
    )
    def get(self, request, project_trigger_id=None):
        trigger = (
            _shared_triggers()
            .filter(tenant=request.tenant, uuid=_uuid_or_none(project_trigger_id))
            .first()
        )
        if trigger is None:
            raise NotFound("Trigger not found")
        try:
            samples, source = services.trigger_test_samples(trigger=trigger)
        except PollFailed as failed:
            raise SourceUnavailable(failed.message) from None
        return Response({"samples": samples, "source": source})


class ProviderTriggersView(APIView):
    """``/providers/{provider_id}/triggers``: a provider's catalog entries, public like a
    product page (they hold nothing of any tenant)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    documented_errors = ("404",)

    @extend_schema(
        summary="A provider's triggers", responses={200: CatalogEntrySerializer(many=True)}
    )
    def get(self, request, provider_id=None):
        entries = catalog.provider_entries(provider_id)
        if not entries:
            raise NotFound("Provider not found")
        return Response(CatalogEntrySerializer(entries, many=True).data)


class ProviderTriggerView(ProviderTriggersView):
    """``/providers/{provider_id}/triggers/{trigger_id}``: one catalog entry."""

    @extend_schema(summary="One of a provider's triggers", responses={200: CatalogEntrySerializer})
    def get(self, request, provider_id=None, trigger_id=None):
        entries = catalog.provider_entries(provider_id)
        entry = next((e for e in entries if e.trigger_id == trigger_id), None)
        if entry is None:
            raise NotFound("Trigger not found")
        return Response(CatalogEntrySerializer(entry).data)
