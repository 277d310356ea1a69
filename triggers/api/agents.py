"""The agent API: an agent platform's declared triggers, per agent.

``GET|PUT|DELETE /agents/{agent_id}/triggers``, ``POST /agents/{agent_id}/triggers/enable|
disable`` (docs/agent-api.md); ``GET /triggers`` and ``/triggers/{trigger_instance_id}`` are
shared with the provider API (providers/api.py). Errors are DRF's bodies: ``{"detail":
"Agent not found"}``, or for a bad declared item ``{"triggers[1].config.schedule": ["…"]}``.
The replace-all logic is triggers/agent_sync.py's; the status table is ``STATUS_TO_AGENT``.

A pause (docs/scheduling.md): ``disable`` takes an optional body ``{"pause_note",
"paused_until"}`` (``PauseSerializer``, shared with the provider API's ``disable``), and a
declared ``DISABLED`` item may carry the same two; a trigger shows ``paused_at``,
``paused_by`` (the user's public id), ``pause_note`` and ``paused_until``.
"""

import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.models import Agent
from accounts.selectors import user_public_id
from api.strict import StrictJSONTypes, reject_nul_characters
from api.views import TenantScopedViewSet
from triggers import agent_sync, catalog, services
from triggers.choices import TriggerStatus
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger


class AgentTriggerStatus:
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    FAILED = "FAILED"


# The one status table of this surface (docs/architecture.md).
STATUS_TO_AGENT = {
    TriggerStatus.ACTIVE: AgentTriggerStatus.ENABLED,
    TriggerStatus.INACTIVE: AgentTriggerStatus.DISABLED,
    TriggerStatus.STALE: AgentTriggerStatus.DISABLED,
    TriggerStatus.COMPLETED: AgentTriggerStatus.DISABLED,
    TriggerStatus.FAILED: AgentTriggerStatus.FAILED,
}


class TriggerInstanceSerializer(serializers.ModelSerializer):
    """``TriggerInstanceResponse``."""

    trigger_instance_id = serializers.UUIDField(source="uuid")
    agent_id = serializers.CharField(source="agent.public_id")
    trigger_id = serializers.CharField(source="provider_trigger_id")
    status = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    paused_by = serializers.SerializerMethodField()
    pause_note = serializers.SerializerMethodField()

    class Meta:
        model = Trigger
        fields = [
            "trigger_instance_id", "agent_id", "trigger_id", "status", "config",
            "config_hash", "error_message", "error_at", "created_at", "updated_at",
            # Beyond the contract: a pause (docs/agent-api.md).
            "paused_at", "paused_by", "pause_note", "paused_until",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, trigger) -> str:
        return STATUS_TO_AGENT[trigger.status]

    def get_config(self, trigger) -> dict:
        return trigger.effective_config()

    def get_error_message(self, trigger) -> str | None:
        return trigger.error_message or None

    def get_paused_by(self, trigger) -> uuid.UUID | None:
        """The user who paused it, by public id (lists select ``paused_by__identity``)."""
        return user_public_id(trigger.paused_by) if trigger.paused_by_id else None

    def get_pause_note(self, trigger) -> str | None:
        return trigger.pause_note or None


class PauseSerializer(StrictJSONTypes, serializers.Serializer):
    """A pause's note and end: the optional body of ``disable`` (this API's and the provider
    API's). Their rules (an end in the future, none on an enable) are the services'."""

    pause_note = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=PAUSE_NOTE_MAX_LENGTH
    )
    paused_until = serializers.DateTimeField(required=False, allow_null=True)

    @classmethod
    def of_request(cls, request) -> dict:
        """The request's pause fields the services take (``pause_note``, ``paused_until``),
        those it names; a request without a body names none."""
        body = cls(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)


class TriggerConfigSerializer(StrictJSONTypes, serializers.Serializer):
    """``TriggerConfig``: one declared trigger; beyond the contract, a ``DISABLED`` one may
    carry its pause's note and end (agent_sync.DeclaredTrigger)."""

    trigger_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[AgentTriggerStatus.ENABLED, AgentTriggerStatus.DISABLED],
        default=AgentTriggerStatus.ENABLED,
    )
    config = serializers.DictField(default=dict, validators=[reject_nul_characters])
    pause_note = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=PAUSE_NOTE_MAX_LENGTH
    )
    paused_until = serializers.DateTimeField(required=False, allow_null=True)

    def validate_trigger_id(self, value):
        if catalog.trigger_type_get("builtin", value) is None:
            known = ", ".join(sorted(e.trigger_id for e in catalog.provider_entries("builtin")))
            raise serializers.ValidationError(f"Unknown trigger type '{value}'; known: {known}.")
        return value

    def validate(self, attrs):
        # The type's one config definition, as this surface applies it (catalog.AGENT_CONFIG).
        entry = catalog.trigger_type_get("builtin", attrs["trigger_id"])
        errors = entry.config_errors(attrs["config"], catalog.AGENT_CONFIG)
        if attrs["status"] == AgentTriggerStatus.ENABLED:
            errors.update(
                {name: "Only a DISABLED trigger takes a pause note or an until-time."
                 for name in ("pause_note", "paused_until") if name in attrs}
            )  # fmt: skip
        if errors:
            raise serializers.ValidationError({key: [message] for key, message in errors.items()})
        return attrs


# At most this many triggers in one PUT: each is validated, compared and written in the
# request's one transaction (about 4 ms apiece on the development machine), so a list without
# a bound would hold a web worker, and on SQLite the database, past the server's timeout.
MAX_TRIGGERS_PER_AGENT = 1000


class SetAgentTriggersSerializer(StrictJSONTypes, serializers.Serializer):
    triggers = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=True,
        max_length=MAX_TRIGGERS_PER_AGENT,
        error_messages={
            "max_length": f"At most {MAX_TRIGGERS_PER_AGENT} triggers per agent.",
        },
    )

    def validate_triggers(self, items):
        """Each item through TriggerConfigSerializer; errors keyed ``triggers[<i>].<field>``."""
        declared, errors = [], {}
        for index, item in enumerate(items):
            one = TriggerConfigSerializer(data=item)
            if not one.is_valid():
                for key, messages in one.errors.items():
                    errors[f"triggers[{index}].{key}"] = messages
                continue
            data = one.validated_data
            declared.append(
                agent_sync.DeclaredTrigger(
                    trigger_id=data["trigger_id"],
                    enabled=data["status"] == AgentTriggerStatus.ENABLED,
                    config=data["config"],
                    pause_note=data.get("pause_note", services.UNCHANGED),
                    paused_until=data.get("paused_until", services.UNCHANGED),
                )
            )
        if errors:
            raise serializers.ValidationError(errors)
        return declared

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            # Item errors flat at the top ("triggers[1].config.schedule"), not nested.
            detail = error.detail
            if isinstance(detail, dict) and isinstance(detail.get("triggers"), dict):
                flat = {
                    key if isinstance(key, str) else f"triggers[{key}]": messages
                    for key, messages in detail["triggers"].items()
                }  # an item that is not an object: its index, as the list field gives it
                raise serializers.ValidationError(flat) from None
            raise


SET_REQUEST = inline_serializer(
    "SetAgentTriggersRequest", {"triggers": TriggerConfigSerializer(many=True)}
)
SET_RESPONSE = inline_serializer(
    "SetAgentTriggersResponse",
    {
        "agent_id": serializers.CharField(),
        "triggers": TriggerInstanceSerializer(many=True),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "deleted": serializers.IntegerField(),
    },
)
DELETE_RESPONSE = inline_serializer(
    "DeleteAgentTriggersResponse",
    {"agent_id": serializers.CharField(), "deleted": serializers.IntegerField()},
)
ENABLED_RESPONSE = inline_serializer(
    "SetAgentTriggersEnabledResponse",
    {
        "agent_id": serializers.CharField(),
        "enabled": serializers.BooleanField(),
        "affected": serializers.IntegerField(),
    },
)


class AgentTriggersViewSet(TenantScopedViewSet):
    """``/agents/{agent_id}/triggers``: an agent's declared triggers."""

    queryset = Agent.objects.all()
    serializer_class = TriggerInstanceSerializer
    pagination_class = None  # an agent's triggers are listed whole
    lookup_field = "public_id"
    lookup_url_kwarg = "agent_id"
    lookup_value_regex = r"[a-zA-Z0-9\-_.]+"

    def get_object(self) -> Agent:
        """The caller's live agent; one pending deletion is not found, as the contract says."""
        agent = (
            account_selectors.agent_list(tenant=self.request.tenant)
            .filter(public_id=self.kwargs["agent_id"])
            .first()
        )
        if agent is None:
            raise NotFound("Agent not found")
        return agent

    def _listed(self, agent: Agent) -> list:
        triggers = agent_sync.agent_triggers(agent=agent).select_related(
            "agent", "paused_by__identity"
        )
        return TriggerInstanceSerializer(triggers, many=True).data

    @extend_schema(
        summary="List an agent's triggers", responses={200: TriggerInstanceSerializer(many=True)}
    )
    def retrieve(self, request, agent_id=None):
        return Response(self._listed(self.get_object()))

    @extend_schema(
        summary="Set an agent's triggers (replace-all, one transaction)",
        request=SET_REQUEST,
        responses={200: SET_RESPONSE},
    )
    def update(self, request, agent_id=None):
        agent = self.get_object()
        body = SetAgentTriggersSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = agent_sync.agent_triggers_set(
            agent=agent, declared=body.validated_data["triggers"], user=request.user
        )
        return Response(
            {
                "agent_id": agent.public_id,
                "triggers": TriggerInstanceSerializer(result.triggers, many=True).data,
                "created": result.created,
                "updated": result.updated,
                "deleted": result.deleted,
            }
        )

    @extend_schema(summary="Delete all of an agent's triggers", responses={200: DELETE_RESPONSE})
    def destroy(self, request, agent_id=None):
        agent = self.get_object()
        deleted = agent_sync.agent_triggers_delete(agent=agent)
        return Response({"agent_id": agent.public_id, "deleted": deleted})

    @extend_schema(
        summary="Enable all of an agent's triggers (unfreezes FAILED ones, ends pauses)",
        request=None,
        responses={200: ENABLED_RESPONSE},
    )
    def enable(self, request, agent_id=None):
        return self._set_enabled(True)

    @extend_schema(
        summary="Disable (pause) all of an agent's triggers, with an optional note and end",
        request=PauseSerializer,
        responses={200: ENABLED_RESPONSE},
    )
    def disable(self, request, agent_id=None):
        return self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> Response:
        agent = self.get_object()
        affected = services.triggers_set_enabled(
            triggers=agent_sync.agent_triggers(agent=agent),
            enabled=enabled,
            user=self.request.user,
            **PauseSerializer.of_request(self.request),
        )
        return Response({"agent_id": agent.public_id, "enabled": enabled, "affected": affected})
