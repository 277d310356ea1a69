"""Seed 004's endpoints: /api/flows (with nested nodes and connections), /api/node-types and
/api/admin/migrate-user-intents. Thin: every change goes through flows.services."""

import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.base import ArrayLimitOffsetPagination
from accounts.models import Project
from accounts.permissions import IsTenantMember
from flows import node_types, services
from flows.api.errors import flows_exception_handler
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

ERROR_BODY = inline_serializer(
    "FlowError",
    {
        "statusCode": serializers.IntegerField(),
        "message": serializers.CharField(),
        "error": serializers.CharField(),
    },
)
ERRORS = {code: ERROR_BODY for code in (400, 401, 403, 404)}


def _service(call):
    """Run a service call; its Django ValidationError becomes a 400 in the API's names."""
    try:
        return call()
    except DjangoValidationError as error:
        detail = (
            {MODEL_TO_API.get(k, k): v for k, v in error.message_dict.items()}
            if hasattr(error, "error_dict")
            else error.messages
        )
        raise ValidationError(detail) from None


class FlowSurface:
    """Seed 004's error shape for every view of this surface; tenant scoping via the flow."""

    permission_classes = [IsTenantMember]

    def get_exception_handler(self):
        return flows_exception_handler

    def scoped_flow(self, flow_id) -> Flow:
        flow = Flow.objects.filter(pk=_uuid_or_404(flow_id), tenant=self.request.tenant).first()
        if flow is None:
            raise NotFound("Flow not found")
        return flow


def _flows_with_graph():
    return Flow.objects.select_related("app").prefetch_related(
        Prefetch("nodes", queryset=Node.objects.order_by("created_at", "id")),
        Prefetch("connections", queryset=Connection.objects.order_by("created_at", "id")),
    )


class FlowViewSet(FlowSurface, viewsets.ViewSet):
    lookup_url_kwarg = "flow_id"
    lookup_value_regex = "[^/]+"
    pagination_class = ArrayLimitOffsetPagination

    @extend_schema(summary="List flows", responses={200: FlowSerializer(many=True), **ERRORS})
    def list(self, request):
        paginator = self.pagination_class()
        flows = _flows_with_graph().filter(tenant=request.tenant)
        page = paginator.paginate_queryset(flows, request, view=self)
        return paginator.get_paginated_response(FlowSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a flow",
        request=FlowCreateSerializer,
        responses={201: FlowSerializer, **ERRORS},
    )
    def create(self, request):
        data = _valid(FlowCreateSerializer, request.data)
        app = Project.objects.filter(tenant=request.tenant, public_id=data.pop("appId")).first()
        if app is None:
            raise ValidationError({"appId": "Unknown app."})
        flow = _service(
            lambda: services.flow_create(tenant=request.tenant, app=app, **_model(data))
        )
        return Response(_flow_body(flow.pk), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a flow with its nodes and connections",
                   responses={200: FlowSerializer, **ERRORS})  # fmt: skip
    def retrieve(self, request, flow_id=None):
        return Response(_flow_body(self.scoped_flow(flow_id).pk))

    @extend_schema(
        summary="Update a flow",
        request=FlowUpdateSerializer,
        responses={200: FlowSerializer, **ERRORS},
    )
    def partial_update(self, request, flow_id=None):
        flow = self.scoped_flow(flow_id)
        data = _valid(FlowUpdateSerializer, request.data, reject_unknown=True)
        _service(lambda: services.flow_update(flow=flow, **_model(data)))
        return Response(_flow_body(flow.pk))

    @extend_schema(summary="Delete a flow", responses={204: None, **ERRORS})
    def destroy(self, request, flow_id=None):
        services.flow_delete(flow=self.scoped_flow(flow_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NodeViewSet(FlowSurface, viewsets.ViewSet):
    lookup_url_kwarg = "node_id"
    lookup_value_regex = "[^/]+"

    def _node(self, flow_id, node_id) -> Node:
        flow = self.scoped_flow(flow_id)
        return get_object_or_404(Node, pk=_uuid_or_404(node_id), flow=flow)

    @extend_schema(
        summary="Add a node to a flow",
        request=NodeCreateSerializer,
        responses={201: NodeSerializer, **ERRORS},
    )
    def create(self, request, flow_id=None):
        flow = self.scoped_flow(flow_id)
        data = _valid(NodeCreateSerializer, request.data)
        node = _service(lambda: services.node_create(flow=flow, **data))
        return Response(NodeSerializer(node).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a node",
        request=NodeUpdateSerializer,
        responses={200: NodeSerializer, **ERRORS},
    )
    def partial_update(self, request, flow_id=None, node_id=None):
        node = self._node(flow_id, node_id)
        data = _valid(NodeUpdateSerializer, request.data, reject_unknown=True)
        node = _service(lambda: services.node_update(node=node, **data))
        return Response(NodeSerializer(node).data)

    @extend_schema(summary="Delete a node and its connections", responses={204: None, **ERRORS})
    def destroy(self, request, flow_id=None, node_id=None):
        services.node_delete(node=self._node(flow_id, node_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionViewSet(FlowSurface, viewsets.ViewSet):
    lookup_url_kwarg = "connection_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(summary="List a flow's connections",
                   responses={200: ConnectionSerializer(many=True), **ERRORS})  # fmt: skip
    def list(self, request, flow_id=None):
        flow = self.scoped_flow(flow_id)
        connections = flow.connections.order_by("created_at", "id")
        return Response(ConnectionSerializer(connections, many=True).data)

    @extend_schema(
        summary="Connect two nodes of a flow",
        description="400 when the target is a trigger node (UserIntent), a handle does not "
        "exist on the node's type, the nodes are the same or in another flow, or the "
        "connection exists.",
        request=ConnectionCreateSerializer,
        responses={201: ConnectionSerializer, **ERRORS},
    )
    def create(self, request, flow_id=None):
        flow = self.scoped_flow(flow_id)
        data = _valid(ConnectionCreateSerializer, request.data)
        connection = _service(
            lambda: services.connection_create(
                flow=flow,
                source_id=data["sourceNodeId"],
                target_id=data["targetNodeId"],
                source_handle=data["sourceHandle"],
                target_handle=data["targetHandle"],
            )
        )
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a connection", responses={204: None, **ERRORS})
    def destroy(self, request, flow_id=None, connection_id=None):
        flow = self.scoped_flow(flow_id)
        services.connection_delete(
            connection=get_object_or_404(Connection, pk=_uuid_or_404(connection_id), flow=flow)
        )
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


class NodeTypesView(FlowSurface, APIView):
    @extend_schema(summary="The node types and their categories",
                   responses={200: NODE_TYPES_BODY, **ERRORS})  # fmt: skip
    def get(self, request):
        return Response(node_types.catalog())


class IsStaff(permissions.BasePermission):
    message = "Only staff may run the migration."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class MigrateUserIntentsView(FlowSurface, APIView):
    """Staff only; runs over every tenant's flows, like `manage.py migrate_user_intents`."""

    permission_classes = [IsStaff]

    @extend_schema(
        summary="Move flow-level user intents into UserIntent nodes (staff only)",
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
            **ERRORS,
        },
    )
    def post(self, request):
        return Response(services.user_intents_migrate().as_json())


def _uuid_or_404(value) -> uuid.UUID:
    """Ids in paths are UUIDs; anything else names no object: 404 in this surface's shape."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Not found") from None


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


def _flow_body(flow_id) -> dict:
    return FlowSerializer(_flows_with_graph().get(pk=flow_id)).data
