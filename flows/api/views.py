"""The flows API: /api/flows (with nested nodes and connections), /api/node-types and
/api/admin/migrate-user-intents. Thin: every change goes through flows.services; errors are
written in this surface's ``{statusCode, message, error}`` shape (api/errors.py)."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project
from api.errors import STATUS_CODE_ERRORS
from api.views import TenantScopedMixin, TenantScopedViewSet
from flows import node_types, services
from flows.api.serializers import (
    FLOW_FIELD_NAMES,
    MODEL_TO_API,
    ConnectionCreateSerializer,
    ConnectionSerializer,
    FlowCreateSerializer,
    FlowSerializer,
    FlowUpdateSerializer,
    NodeCreateSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
)
from flows.models import Connection, Flow, Node


class FlowsSurface(TenantScopedMixin):
    """What every view of the flows API shares: its error format and field names, and the
    flow named in the path, looked up in the caller's tenant."""

    error_format = STATUS_CODE_ERRORS
    field_names = MODEL_TO_API

    def flow(self) -> Flow:
        return self.tenant_object_or_404(Flow.objects, pk=self.kwargs["flow_id"])


def _flows_with_graph():
    return Flow.objects.select_related("app").prefetch_related(
        Prefetch("nodes", queryset=Node.objects.order_by("created_at", "id")),
        Prefetch("connections", queryset=Connection.objects.order_by("created_at", "id")),
    )


class FlowViewSet(FlowsSurface, TenantScopedViewSet):
    queryset = _flows_with_graph()
    serializer_class = FlowSerializer
    lookup_url_kwarg = "flow_id"
    lookup_value_regex = "[^/]+"

    def _body(self, flow: Flow) -> dict:
        return FlowSerializer(self.get_queryset().get(pk=flow.pk)).data

    @extend_schema(summary="List flows", responses={200: FlowSerializer(many=True)})
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(FlowSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a flow", request=FlowCreateSerializer, responses={201: FlowSerializer}
    )
    def create(self, request):
        data = _valid(FlowCreateSerializer, request.data)
        app = Project.objects.filter(tenant=request.tenant, public_id=data.pop("appId")).first()
        if app is None:
            raise ValidationError({"appId": "Unknown app."})
        flow = services.flow_create(tenant=request.tenant, app=app, **_model(data))
        return Response(self._body(flow), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a flow with its nodes and connections",
                   responses={200: FlowSerializer})  # fmt: skip
    def retrieve(self, request, flow_id=None):
        return Response(FlowSerializer(self.get_object()).data)

    @extend_schema(
        summary="Update a flow", request=FlowUpdateSerializer, responses={200: FlowSerializer}
    )
    def partial_update(self, request, flow_id=None):
        flow = self.get_object()
        data = _valid(FlowUpdateSerializer, request.data, reject_unknown=True)
        services.flow_update(flow=flow, **_model(data))
        return Response(self._body(flow))

    @extend_schema(summary="Delete a flow", responses={204: None})
    def destroy(self, request, flow_id=None):
        services.flow_delete(flow=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class NodeViewSet(FlowsSurface, TenantScopedViewSet):
    queryset = Node.objects.all()
    serializer_class = NodeSerializer
    lookup_url_kwarg = "node_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return Node.objects.filter(flow=self.flow())

    @extend_schema(
        summary="Add a node to a flow",
        request=NodeCreateSerializer,
        responses={201: NodeSerializer},
    )
    def create(self, request, flow_id=None):
        flow = self.flow()
        node = services.node_create(flow=flow, **_valid(NodeCreateSerializer, request.data))
        return Response(NodeSerializer(node).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a node", request=NodeUpdateSerializer, responses={200: NodeSerializer}
    )
    def partial_update(self, request, flow_id=None, node_id=None):
        node = self.get_object()
        data = _valid(NodeUpdateSerializer, request.data, reject_unknown=True)
        node = services.node_update(node=node, **data)
        return Response(NodeSerializer(node).data)

    @extend_schema(summary="Delete a node and its connections", responses={204: None})
    def destroy(self, request, flow_id=None, node_id=None):
        services.node_delete(node=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionViewSet(FlowsSurface, TenantScopedViewSet):
    queryset = Connection.objects.all()
    serializer_class = ConnectionSerializer
    lookup_url_kwarg = "connection_id"
    lookup_value_regex = "[^/]+"
    pagination_class = None  # the contract lists a flow's connections whole

    def get_queryset(self):
        return Connection.objects.filter(flow=self.flow()).order_by("created_at", "id")

    @extend_schema(summary="List a flow's connections",
                   responses={200: ConnectionSerializer(many=True)})  # fmt: skip
    def list(self, request, flow_id=None):
        return Response(ConnectionSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        summary="Connect two nodes of a flow",
        description="400 when the target is a trigger node (UserIntent), a handle does not "
        "exist on the node's type, the nodes are the same or in another flow, or the "
        "connection exists.",
        request=ConnectionCreateSerializer,
        responses={201: ConnectionSerializer},
    )
    def create(self, request, flow_id=None):
        flow = self.flow()
        data = _valid(ConnectionCreateSerializer, request.data)
        connection = services.connection_create(
            flow=flow,
            source_id=data["sourceNodeId"],
            target_id=data["targetNodeId"],
            source_handle=data["sourceHandle"],
            target_handle=data["targetHandle"],
        )
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a connection", responses={204: None})
    def destroy(self, request, flow_id=None, connection_id=None):
        services.connection_delete(connection=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


NODE_TYPES_BODY = inline_serializer(
    "NodeTypesResponse",
    {
        "nodeTypes": inline_serializer(
            "NodeTypeInfo",
            {
                "name": serializers.ChoiceField(choices=node_types.NODE_TYPE_NAMES),
                "displayName": serializers.CharField(),
                "description": serializers.CharField(),
                "icon": serializers.CharField(),
                "category": serializers.ChoiceField(choices=node_types.CATEGORY_IDS),
                "inputs": serializers.ListField(child=serializers.CharField()),
                "outputs": serializers.ListField(child=serializers.CharField()),
            },
            many=True,
        ),
        "categories": inline_serializer(
            "CategoryInfo",
            {
                "id": serializers.ChoiceField(choices=node_types.CATEGORY_IDS),
                "displayName": serializers.CharField(),
                "order": serializers.IntegerField(),
            },
            many=True,
        ),
    },
)


class NodeTypesView(FlowsSurface, APIView):
    @extend_schema(summary="The node types and their categories",
                   responses={200: NODE_TYPES_BODY})  # fmt: skip
    def get(self, request):
        return Response(node_types.catalog())


class IsSuperuser(permissions.BasePermission):
    """Platform operators only: an operation across every tenant is no tenant's staff's."""

    message = "Only platform operators (superusers) may run an operation across tenants."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class MigrateUserIntentsView(FlowsSurface, APIView):
    """Superusers only; runs over every tenant's flows, like `manage.py migrate_user_intents`
    (a staff user of one tenant must not change another's flows)."""

    permission_classes = [IsSuperuser]

    @extend_schema(
        summary="Move flow-level user intents into UserIntent nodes (superusers only)",
        request=None,
        responses={
            200: inline_serializer(
                "MigrateUserIntentsReport",
                {
                    "migratedFlows": serializers.IntegerField(),
                    "createdNodes": serializers.IntegerField(),
                    "errors": inline_serializer(
                        "MigrationError",
                        {"flowId": serializers.UUIDField(), "error": serializers.CharField()},
                        many=True,
                    ),
                },
            ),
        },
    )
    def post(self, request):
        return Response(services.user_intents_migrate().as_json())


def _valid(serializer_class, data, *, reject_unknown: bool = False) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    if reject_unknown and isinstance(data, dict):
        unknown = sorted(set(data) - set(serializer.fields))
        if unknown:
            raise ValidationError({unknown[0]: "Cannot be changed."})
    return dict(serializer.validated_data)


def _model(data: dict) -> dict:
    return {FLOW_FIELD_NAMES.get(key, key): value for key, value in data.items()}
