"""The frontend API's executions: ``/api/executions/:id``, ``/api/triggers/:id/executions`` and
``/api/triggers/:id/test``. They live here because the executions app depends on the
triggers app, not the other way round (docs/architecture.md)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.timestamps import UtcJSONField
from api.views import TenantScopedViewSet
from executions import selectors
from executions.api.frontend_enums import STATUS_TO_FRONTEND, FrontendExecutionStatus
from executions.api.frontend_filters import FrontendExecutionFilterSet
from executions.api.history import HISTORY_HEADERS, with_history_headers
from executions.choices import ExecutionType
from executions.models import Execution
from executions.services import firing, lifecycle
from triggers.api.frontend_enums import frontend_types_q
from triggers.models import Trigger


class TriggerExecutionSerializer(serializers.ModelSerializer):
    """``TriggerExecution`` as the frontend API shows it: every timestamp in UTC ending in
    ``Z``, inside the JSON values too (api/timestamps.py; the client appends ``Z`` itself)."""

    trigger_id = serializers.IntegerField()
    execution_id = serializers.UUIDField()
    execution_type = serializers.ChoiceField(choices=ExecutionType.choices)
    status = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(allow_null=True)
    error_message = serializers.SerializerMethodField()
    tokens_used = serializers.IntegerField(allow_null=True)
    worker_id = serializers.SerializerMethodField()
    input_data = UtcJSONField(allow_null=True)
    output_data = UtcJSONField(allow_null=True)
    tools_executed = UtcJSONField(allow_null=True)

    class Meta:
        model = Execution
        fields = [
            "id",
            "trigger_id",
            "execution_id",
            "execution_type",
            "status",
            "scheduled_for",
            "started_at",
            "completed_at",
            "duration_seconds",
            "input_data",
            "output_data",
            "error_message",
            "retry_count",
            "max_retries",
            "tokens_used",
            "tools_executed",
            "worker_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_status(self, execution) -> FrontendExecutionStatus:
        return STATUS_TO_FRONTEND[execution.status]

    def get_error_message(self, execution) -> str | None:
        return execution.error_message or None

    def get_worker_id(self, execution) -> str | None:
        return execution.worker_id or None


class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """``/api/executions``: the tenant's executions of every trigger, whatever surface made
    it (the agent and management APIs' triggers have no history endpoint of their own in the
    frontend API), newest first."""

    queryset = Execution.objects.order_by("-created_at", "-id")
    lookup_value_regex = r"\d+"
    serializer_class = TriggerExecutionSerializer
    filterset_class = FrontendExecutionFilterSet

    @extend_schema(summary="List executions, newest first", parameters=HISTORY_HEADERS)
    def list(self, request, *args, **kwargs):
        return with_history_headers(super().list(request, *args, **kwargs), request.tenant)

    @extend_schema(summary="Get an execution")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Cancel a pending or running execution",
        description="A running attempt's late result is discarded. An execution that has "
        "already finished cannot be cancelled: 400 naming `status`.",
        request=None,
        responses={200: TriggerExecutionSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        execution = lifecycle.execution_cancel(
            execution=self.get_object(), cancelled_by=request.user
        )
        return Response(TriggerExecutionSerializer(execution).data)


class TriggerExecutionsViewSet(TenantScopedViewSet):
    """The executions side of ``/api/triggers/:id``: history and test runs."""

    queryset = Trigger.objects.filter(frontend_types_q())
    lookup_value_regex = r"\d+"
    serializer_class = TriggerExecutionSerializer

    @extend_schema(
        summary="A trigger's executions, newest first",
        responses={200: TriggerExecutionSerializer(many=True)},
        parameters=HISTORY_HEADERS,
    )
    @action(detail=True, methods=["get"])
    def executions(self, request, pk=None):
        trigger = self.get_object()
        page = self.paginate_queryset(selectors.execution_history(trigger=trigger))
        response = self.get_paginated_response(TriggerExecutionSerializer(page, many=True).data)
        return with_history_headers(response, request.tenant)

    @extend_schema(
        summary="Run the trigger once now, as a manual execution",
        request=None,
        responses={201: TriggerExecutionSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        execution = firing.execution_create_test(
            trigger=self.get_object(), requested_by=request.user
        )
        return Response(TriggerExecutionSerializer(execution).data, status=status.HTTP_201_CREATED)
