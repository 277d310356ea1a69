"""The flows API's JSON shapes (camelCase) over the flow models."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.strict import StrictJSONTypes
from flows.models import Connection, Flow, Node
from flows.node_types import NODE_TYPE_NAMES, node_type_get
from flows.parameters import PARAMETER_TYPES


class PositionSerializer(StrictJSONTypes, serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()


class NodeIssueSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The missing parameter, e.g. parameters.flowId")
    message = serializers.CharField()


class NodeSerializer(serializers.ModelSerializer):
    position = serializers.SerializerMethodField()
    issues = serializers.SerializerMethodField(
        help_text="What the node still lacks (empty when complete); "
        "a flow with issues cannot be switched on."
    )

    class Meta:
        model = Node
        fields = ["id", "type", "name", "position", "parameters", "issues"]

    def get_position(self, node) -> PositionSerializer:
        return {"x": node.position_x, "y": node.position_y}

    @extend_schema_field(NodeIssueSerializer(many=True))
    def get_issues(self, node) -> list[dict[str, str]]:
        return node_type_get(node.type).issues(node.parameters)


class ConnectionSerializer(serializers.ModelSerializer):
    sourceNodeId = serializers.UUIDField(source="source_id")
    sourceHandle = serializers.CharField(source="source_handle")
    targetNodeId = serializers.UUIDField(source="target_id")
    targetHandle = serializers.CharField(source="target_handle")

    class Meta:
        model = Connection
        fields = ["id", "sourceNodeId", "sourceHandle", "targetNodeId", "targetHandle"]


class FlowParameterSerializer(StrictJSONTypes, serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=PARAMETER_TYPES)
    description = serializers.CharField(required=False)
    required = serializers.BooleanField(required=False)


class FlowSerializer(serializers.ModelSerializer):
    appId = serializers.CharField(source="app.public_id")
    toolName = serializers.CharField(source="tool_name")
    toolDescription = serializers.CharField(source="tool_description")
    isActive = serializers.BooleanField(source="is_active")
    parameters = FlowParameterSerializer(many=True)
    nodes = NodeSerializer(many=True)
    connections = ConnectionSerializer(many=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Flow
        fields = [
            "id", "appId", "name", "description", "toolName", "toolDescription", "isActive",
            "parameters", "nodes", "connections", "createdAt", "updatedAt",
        ]  # fmt: skip
        read_only_fields = fields


# -- input -------------------------------------------------------------------------------


class FlowCreateSerializer(StrictJSONTypes, serializers.Serializer):
    appId = serializers.CharField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    toolName = serializers.CharField(max_length=64)
    toolDescription = serializers.CharField()
    isActive = serializers.BooleanField(required=False)
    parameters = serializers.JSONField(required=False, help_text="FlowParameter[]")


class FlowUpdateSerializer(StrictJSONTypes, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    toolName = serializers.CharField(max_length=64, required=False)
    toolDescription = serializers.CharField(required=False)
    isActive = serializers.BooleanField(required=False)
    parameters = serializers.JSONField(required=False, help_text="FlowParameter[]")


class NodeCreateSerializer(StrictJSONTypes, serializers.Serializer):
    type = serializers.ChoiceField(choices=NODE_TYPE_NAMES)
    name = serializers.CharField(max_length=200)
    position = PositionSerializer(required=False)
    parameters = serializers.DictField(required=False)


class NodeUpdateSerializer(StrictJSONTypes, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    position = PositionSerializer(required=False)
    parameters = serializers.DictField(required=False)


class ConnectionCreateSerializer(StrictJSONTypes, serializers.Serializer):
    sourceNodeId = serializers.UUIDField()
    sourceHandle = serializers.CharField(max_length=64, default="main")
    targetNodeId = serializers.UUIDField()
    targetHandle = serializers.CharField(max_length=64, default="main")


FLOW_FIELD_NAMES = {
    "appId": "app",
    "toolName": "tool_name",
    "toolDescription": "tool_description",
    "isActive": "is_active",
}
MODEL_TO_API = {model: api for api, model in FLOW_FIELD_NAMES.items()}
