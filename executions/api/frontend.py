"""The frontend API's executions: ``/api/executions/:id``, ``/api/triggers/:id/executions``,
``/api/triggers/:id/test`` and ``/api/triggers/:id/backfill``. They live here because the
executions app depends on the triggers app, not the other way round (docs/architecture.md)."""

from django_filters import utils as filter_utils
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.openapi import may_refuse
from api.strict import StrictJSONTypes
from api.timestamps import UtcJSONField
from api.views import TenantScopedViewSet
from executions import selectors
from executions.api.frontend_enums import STATUS_TO_FRONTEND, FrontendExecutionStatus
from executions.api.frontend_filters import FrontendExecutionFilterSet
from executions.api.history import HISTORY_HEADERS, with_history_headers
from executions.choices import ExecutionType
from executions.models import Execution
from executions.services import backfill as backfills
from executions.services import firing, lifecycle
from triggers import event_rules
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
            "is_backfill",
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
            "delivery_count",
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


class FilterDryRunInputSerializer(serializers.Serializer):
    """Filters to try (as the trigger's config would take them) and how many deliveries."""

    filter = serializers.JSONField(required=False, allow_null=True)
    body_contains = serializers.JSONField(required=False, allow_null=True)
    required_headers = serializers.JSONField(required=False, allow_null=True)
    limit = serializers.IntegerField(
        required=False,
        default=event_rules.DRY_RUN_DEFAULT,
        min_value=1,
        max_value=event_rules.DRY_RUN_MAX,
    )

    def validate(self, attrs):
        errors = event_rules.filter_errors(attrs)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class FilterDryRunRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    execution_id = serializers.UUIDField()
    execution_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    would_run = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)


class FilterDryRunSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Deliveries tried.")
    would_run = serializers.IntegerField()
    filtered = serializers.IntegerField()
    not_tried = serializers.IntegerField(
        help_text="The oldest deliveries asked for but not tried: the dry run stops after "
        "3 s, however costly the filter (0 when every one was tried)."
    )
    results = FilterDryRunRowSerializer(many=True)


class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """``/api/executions``: the tenant's executions of every trigger, whatever surface made
    it (the agent and management APIs' triggers have no history endpoint of their own in the
    frontend API), newest first."""

    queryset = Execution.objects.order_by("-created_at", "-id")
    # Its integer id, or the execution_id (uuid) a webhook's answer and the other surfaces give.
    lookup_value_regex = (
        r"(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    )
    serializer_class = TriggerExecutionSerializer
    filterset_class = FrontendExecutionFilterSet

    def get_object(self):
        if self.kwargs["pk"].isdigit():
            return super().get_object()
        execution = self.tenant_object_or_404(self.get_queryset(), execution_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, execution)
        return execution

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


class BackfillInputSerializer(StrictJSONTypes, serializers.Serializer):
    start = serializers.DateTimeField(
        help_text="The first moment whose slot is fired (ISO 8601; without an offset: UTC)."
    )
    end = serializers.DateTimeField(
        help_text="The last moment whose slot is fired (included); not in the future."
    )


class BackfillSlotSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField()
    outcome = serializers.ChoiceField(
        choices=[backfills.CREATED, backfills.EXISTING, backfills.NOT_RUN],
        help_text="created: fired now; existing: the slot has an execution already (not "
        "fired again); not_run: over a limit (see not_run_reason), nothing stored.",
    )
    execution_id = serializers.UUIDField(allow_null=True)
    status = serializers.SerializerMethodField()

    def get_status(self, slot) -> FrontendExecutionStatus | None:
        return None if slot.status is None else STATUS_TO_FRONTEND[slot.status]


class BackfillSerializer(serializers.Serializer):
    """What a backfill did, slot by slot, oldest first."""

    trigger_id = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    overlap_policy = serializers.CharField()
    runs = serializers.SerializerMethodField(
        help_text="one_after_another (overlap policy skip or buffer_one) or alongside (allow)."
    )
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    not_run = serializers.IntegerField()
    not_run_reason = serializers.SerializerMethodField()
    slots = BackfillSlotSerializer(many=True)

    def get_runs(self, done) -> str:
        return "one_after_another" if done.one_after_another else "alongside"

    def get_not_run_reason(self, done) -> str | None:
        return done.not_run_reason or None


_HISTORY_FILTERS = [
    OpenApiParameter("execution_type", str, enum=ExecutionType.values),
    OpenApiParameter("status", str, description="0-4, or the status name (pending …)."),
]


class TriggerExecutionsViewSet(TenantScopedViewSet):
    """The executions side of ``/api/triggers/:id``: history, test runs and backfills."""

    queryset = Trigger.objects.filter(frontend_types_q())
    lookup_value_regex = r"\d+"
    serializer_class = TriggerExecutionSerializer
    field_names = {"provider_trigger_id": "trigger_type"}

    @extend_schema(
        summary="A trigger's executions, newest first",
        description="Filtered by `execution_type` and `status` as `GET /api/executions` is; "
        "a value outside them is a 400 naming the parameter.",
        responses={200: TriggerExecutionSerializer(many=True)},
        parameters=[*HISTORY_HEADERS, *_HISTORY_FILTERS],
    )
    @action(detail=True, methods=["get"])
    def executions(self, request, pk=None):
        trigger = self.get_object()
        # The view's own queryset is the triggers' (get_object): the history's filters are
        # applied here, as DjangoFilterBackend applies them to /api/executions.
        history = FrontendExecutionFilterSet(
            request.query_params, queryset=selectors.execution_history(trigger=trigger)
        )
        if not history.is_valid():
            raise filter_utils.translate_validation(history.errors)
        page = self.paginate_queryset(history.qs)
        response = self.get_paginated_response(TriggerExecutionSerializer(page, many=True).data)
        return with_history_headers(response, request.tenant)

    @extend_schema(
        summary="Try filters on the trigger's last deliveries, before saving them",
        description="`filter` (a JMESPath that must be truthy), `body_contains` and "
        "`required_headers` as the trigger's config takes them, tried on its last `limit` "
        "executions (default 20, at most 200; test runs left out): which would have run. "
        "Nothing is saved. A value the config would refuse is a 400 naming it.",
        request=FilterDryRunInputSerializer,
        responses={200: FilterDryRunSerializer},
    )
    @action(detail=True, methods=["post"], url_path="filter-dry-run")
    def filter_dry_run(self, request, pk=None):
        trigger = self.get_object()
        body = FilterDryRunInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = selectors.filter_dry_run(trigger=trigger, values=body.validated_data)
        return Response(FilterDryRunSerializer(result).data)

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

    @extend_schema(
        summary="Fire a schedule trigger's past slots between two times (a backfill)",
        description="One execution per slot of the cron expression from `start` to `end` "
        "(both included, read in the trigger's time zone), each exactly once: a slot that has "
        "an execution already is reported as `existing`, also when two backfills are asked at "
        "once. At most BACKFILL_MAX_SLOTS (1,000) slots; `end` may not be in the future. "
        "The executions are scheduled ones with `is_backfill` true; they run one after "
        "another under the overlap policies skip and buffer_one, alongside under allow "
        '(docs/scheduling.md, "Backfill"). 201 when a slot was fired, else 200; 400 for a '
        "bad range or a trigger that is not a schedule, 409 when the trigger is not active.",
        request=BackfillInputSerializer,
        responses={201: BackfillSerializer, 200: BackfillSerializer},
    )
    @action(detail=True, methods=["post"])
    @may_refuse("409")
    def backfill(self, request, pk=None):
        trigger = self.get_object()
        body = BackfillInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = backfills.trigger_backfill(
            trigger=trigger,
            start=body.validated_data["start"],
            end=body.validated_data["end"],
            requested_by=request.user,
        )
        answer = status.HTTP_201_CREATED if done.created else status.HTTP_200_OK
        return Response(BackfillSerializer(done).data, status=answer)
