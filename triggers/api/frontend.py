"""The frontend API's triggers: ``/api/triggers``.

Integer ids and integer status enums; the status and type tables are in frontend_enums.
Decisions where the contract is silent (docs/api.md):
- a new trigger is Active; ``status`` accepts 0 (Inactive) and 1 (Active) only;
- ``webhook_url`` is generated, never taken from the request;
- only schedule / webhook / slack_trigger triggers are listed (the contract's enum);
- what the real client sends beyond the contract (issue 20): ``custom_cron_expression`` on a
  webhook or Slack trigger is ignored (shown as null), as is ``webhook_method`` on other types
  than webhook; ``space_id`` is an opaque label; ``project_id`` names a project of the
  caller's tenant; ``config`` is stored whole and returned as given, its keys with a meaning
  checked by the model (triggers/config_keys.py, and the type's own keys by its catalog
  definition under ``catalog.CLIENT_CONFIG``);
- ``webhook_secret`` (read-only) is the trigger's own webhook secret in the one response
  that made it (``config.authentication_required`` turned on), null in every other;
- a pause (docs/scheduling.md): ``PATCH`` with ``status: 0`` takes ``pause_note`` and
  ``paused_until`` (either alone changes a paused trigger's); the trigger shows
  ``paused_at``, ``paused_by`` (a user id, as ``user_id``), ``pause_note`` and
  ``paused_until``, null while it is not paused.
"""

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.fields import TenantPublicIdRelatedField
from accounts.models import Project
from api.strict import StrictJSONTypes, reject_nul_characters
from api.views import TenantScopedViewSet
from triggers import schedule, services
from triggers.api.frontend_enums import (
    CATALOG_TO_TYPE,
    STATUS_TO_FRONTEND,
    TYPE_TO_CATALOG,
    FrontendTriggerStatus,
    FrontendTriggerType,
    frontend_types_q,
)
from triggers.api.frontend_filters import FrontendTriggerFilterSet
from triggers.choices import Delivery, ListenerType, TriggerStatus, WebhookMethod
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger

# Model field -> this surface's field, for errors raised by the services.
FIELD_NAMES = {"cron_expression": "custom_cron_expression", "provider_trigger_id": "trigger_type"}
REQUESTED_STATUS = {
    FrontendTriggerStatus.ACTIVE: TriggerStatus.ACTIVE,
    FrontendTriggerStatus.INACTIVE: TriggerStatus.INACTIVE,
}


class TriggerSerializer(serializers.ModelSerializer):
    """``Trigger`` as the frontend API shows it."""

    user_id = serializers.SerializerMethodField()
    trigger_type = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    custom_cron_expression = serializers.SerializerMethodField()
    listener_type = serializers.SerializerMethodField()
    last_execution_status = serializers.SerializerMethodField()
    project_id = serializers.SerializerMethodField()
    space_id = serializers.SerializerMethodField()
    webhook_method = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    webhook_secret = serializers.SerializerMethodField()
    paused_by = serializers.SerializerMethodField()
    pause_note = serializers.SerializerMethodField()

    class Meta:
        model = Trigger
        fields = [
            "id",
            "user_id",
            "name",
            "description",
            "trigger_type",
            "status",
            "webhook_url",
            "custom_cron_expression",
            "timezone",
            "next_fire_at",
            "listener_type",
            "system_message",
            "agent_model",
            "task_prompt",
            "custom_task",
            "max_executions_per_hour",
            "max_executions_per_day",
            "is_single_execution",
            "last_executed_at",
            "last_execution_status",
            "execution_count",
            "error_count",
            "error_message",
            "created_at",
            "updated_at",
            # Beyond the contract: what the real client sends (docs/api.md).
            "project_id",
            "space_id",
            "webhook_method",
            "config",
            "filtered_count",
            "webhook_secret",
            # A pause: who, since when, why, until when (docs/api.md).
            "paused_at",
            "paused_by",
            "pause_note",
            "paused_until",
        ]
        read_only_fields = fields

    def get_user_id(self, trigger) -> str:
        return str(trigger.created_by_id) if trigger.created_by_id else ""

    def get_trigger_type(self, trigger) -> FrontendTriggerType:
        return CATALOG_TO_TYPE[(trigger.provider_id, trigger.provider_trigger_id)]

    def get_status(self, trigger) -> FrontendTriggerStatus:
        return STATUS_TO_FRONTEND[trigger.status]

    def get_webhook_url(self, trigger) -> str | None:
        return trigger.webhook_url

    def get_custom_cron_expression(self, trigger) -> str | None:
        return trigger.cron_expression or None

    def get_listener_type(self, trigger) -> ListenerType | None:
        return trigger.listener_type or None

    def get_last_execution_status(self, trigger) -> str | None:
        return trigger.last_execution_status or None

    def get_project_id(self, trigger) -> str | None:
        return trigger.project.public_id if trigger.project_id else None

    def get_space_id(self, trigger) -> str | None:
        return trigger.space_id or None

    def get_webhook_method(self, trigger) -> WebhookMethod | None:
        # The webhooks app's row, read through its reverse accessor (no import).
        endpoint = getattr(trigger, "webhook_endpoint", None)
        return endpoint.method if endpoint and trigger.delivery == Delivery.WEBHOOK else None

    def get_config(self, trigger) -> dict[str, Any]:
        return trigger.config if isinstance(trigger.config, dict) else {}

    def get_webhook_secret(self, trigger) -> str | None:
        """Set only on the trigger a service just gave a new secret (shown once)."""
        return getattr(trigger, "new_webhook_secret", None)

    def get_paused_by(self, trigger) -> str | None:
        """The user who paused it, by the same id as ``user_id``."""
        return str(trigger.paused_by_id) if trigger.paused_by_id else None

    def get_pause_note(self, trigger) -> str | None:
        return trigger.pause_note or None


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "description": 'The id of a project of the caller\'s tenant; null or "" for none.',
    }
)
class ProjectIdField(TenantPublicIdRelatedField):
    """``project_id``: a project of the caller's tenant by its id (``""`` is none, as null)."""


class _TriggerSettingsSerializer(StrictJSONTypes, serializers.Serializer):
    """Fields shared by ``TriggerInput`` and ``TriggerUpdate``."""

    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    custom_cron_expression = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, source="cron_expression"
    )
    timezone = serializers.CharField(required=False)
    listener_type = serializers.ChoiceField(
        choices=ListenerType.choices, required=False, allow_null=True, allow_blank=True
    )
    system_message = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    agent_model = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200
    )
    task_prompt = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    custom_task = serializers.DictField(
        required=False, allow_null=True, validators=[reject_nul_characters]
    )
    max_executions_per_hour = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_executions_per_day = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    is_single_execution = serializers.BooleanField(required=False)
    # What the real client sends beyond the contract (docs/api.md).
    space_id = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=255
    )
    project_id = ProjectIdField(
        queryset=Project.objects.all(), source="project", required=False, allow_null=True
    )
    webhook_method = serializers.ChoiceField(choices=WebhookMethod.choices, required=False)
    config = serializers.DictField(
        required=False, allow_null=True, validators=[reject_nul_characters]
    )

    _BLANK_WHEN_NULL = (
        "description",
        "cron_expression",
        "listener_type",
        "system_message",
        "agent_model",
        "task_prompt",
        "space_id",
    )

    def validate_timezone(self, value):
        try:
            return schedule.validate_timezone(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate(self, attrs):
        # The model keeps "no value" for text as "", not NULL.
        for name in self._BLANK_WHEN_NULL:
            if name in attrs and attrs[name] is None:
                attrs[name] = ""
        if "config" in attrs and attrs["config"] is None:
            attrs["config"] = {}
        trigger_type = attrs.get("trigger_type") or self.context.get("trigger_type")
        if trigger_type != FrontendTriggerType.SCHEDULE:
            # The client's dialog sends its schedule tab's cron with every type: ignored.
            attrs.pop("cron_expression", None)
        elif attrs.get("cron_expression"):
            try:
                attrs["cron_expression"] = schedule.validate_cron_expression(
                    attrs["cron_expression"]
                )
            except ValueError as error:
                raise serializers.ValidationError(
                    {"custom_cron_expression": [str(error)]}
                ) from None
        if trigger_type != FrontendTriggerType.WEBHOOK:
            attrs.pop("webhook_method", None)  # only a webhook URL takes another method
        return attrs


class TriggerInputSerializer(_TriggerSettingsSerializer):
    """``TriggerInput``: the body of ``POST /api/triggers``."""

    name = serializers.CharField(max_length=255)
    trigger_type = serializers.ChoiceField(choices=FrontendTriggerType.choices)
    # Accepted for compatibility with the contract's TriggerInput, but always generated.
    webhook_url = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, write_only=True
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs.pop("webhook_url", None)
        if attrs["trigger_type"] == FrontendTriggerType.SCHEDULE and not attrs.get(
            "cron_expression"
        ):
            raise serializers.ValidationError(
                {"custom_cron_expression": ["A schedule trigger needs a cron expression."]}
            )
        return attrs


class TriggerUpdateSerializer(_TriggerSettingsSerializer):
    """``TriggerUpdate``: the body of ``PATCH /api/triggers/:id``; every field optional."""

    name = serializers.CharField(max_length=255, required=False)
    status = serializers.ChoiceField(choices=FrontendTriggerStatus.choices, required=False)
    # A pause's note and end (with status 0, or alone on a paused trigger); the rules are the
    # service's (triggers.services._apply_pause), so every surface refuses the same.
    pause_note = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=PAUSE_NOTE_MAX_LENGTH
    )
    paused_until = serializers.DateTimeField(required=False, allow_null=True)

    def validate_status(self, value):
        if value not in REQUESTED_STATUS:
            raise serializers.ValidationError(
                "Only 0 (Inactive) or 1 (Active) can be set; Stale and Completed are "
                "reached by events."
            )
        return REQUESTED_STATUS[value]


@extend_schema_view(
    list=extend_schema(
        summary="List triggers",
        parameters=[
            OpenApiParameter(
                "status",
                int,
                enum=FrontendTriggerStatus.values,
                description="Filter by status (0 Inactive, 1 Active, 2 Stale, 3 Completed)",
            ),
        ],
    ),
    retrieve=extend_schema(summary="Get a trigger"),
    destroy=extend_schema(summary="Delete a trigger and its execution history"),
)
class TriggerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    queryset = Trigger.objects.filter(frontend_types_q()).select_related(
        "project", "webhook_endpoint"
    )
    lookup_value_regex = r"\d+"
    serializer_class = TriggerSerializer
    field_names = FIELD_NAMES
    filterset_class = FrontendTriggerFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(
        summary="Create a trigger",
        request=TriggerInputSerializer,
        responses={201: TriggerSerializer},
    )
    def create(self, request):
        body = TriggerInputSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        entry = TYPE_TO_CATALOG[fields.pop("trigger_type")]
        trigger = services.trigger_create(
            tenant=request.tenant,
            created_by=request.user,
            provider_id=entry.provider_id,
            provider_trigger_id=entry.trigger_id,
            **fields,
        )
        return Response(TriggerSerializer(trigger).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a trigger",
        request=TriggerUpdateSerializer,
        responses={200: TriggerSerializer},
    )
    def partial_update(self, request, pk=None):
        trigger = self.get_object()
        trigger_type = CATALOG_TO_TYPE[(trigger.provider_id, trigger.provider_trigger_id)]
        body = TriggerUpdateSerializer(
            data=request.data,
            partial=True,
            context={"request": request, "trigger_type": trigger_type},
        )
        body.is_valid(raise_exception=True)
        trigger = services.trigger_update(
            trigger=trigger, updated_by=request.user, **body.validated_data
        )
        return Response(TriggerSerializer(trigger).data)

    def perform_destroy(self, instance):
        services.trigger_delete(trigger=instance)

    @extend_schema(
        summary="Duplicate a trigger (inactive, counters reset, new webhook URL)",
        request=None,
        responses={201: TriggerSerializer},
    )
    @action(detail=True, methods=["post"])
    def duplicate(self, request, pk=None):
        copy = services.trigger_duplicate(trigger=self.get_object(), created_by=request.user)
        return Response(TriggerSerializer(copy).data, status=status.HTTP_201_CREATED)
