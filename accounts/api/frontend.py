"""The frontend API's ``/api/projects``, ``/api/agents`` and ``/api/credentials``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts import services
from accounts.api.fields import TenantPublicIdRelatedField
from accounts.identifiers import PUBLIC_ID_MAX_LENGTH, PUBLIC_ID_PATTERN
from accounts.models import Agent, Credential, Project
from api.strict import StrictJSONTypes
from api.views import TenantScopedModelViewSet


def _public_id_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        PUBLIC_ID_PATTERN, max_length=PUBLIC_ID_MAX_LENGTH, source="public_id", **kwargs
    )


class ProjectSerializer(StrictJSONTypes, serializers.ModelSerializer):
    id = _public_id_field(required=False)

    class Meta:
        model = Project
        fields = ["id", "name", "created_at"]
        read_only_fields = ["created_at"]

    def create(self, validated_data):
        return services.project_create(
            tenant=self.context["request"].tenant,
            name=validated_data["name"],
            public_id=validated_data.get("public_id"),
        )


class AgentSerializer(StrictJSONTypes, serializers.ModelSerializer):
    id = _public_id_field(required=False)
    project = TenantPublicIdRelatedField(queryset=Project.objects.all())

    class Meta:
        model = Agent
        fields = ["id", "project", "name", "created_at"]
        read_only_fields = ["created_at"]

    def create(self, validated_data):
        return services.agent_create(
            tenant=self.context["request"].tenant,
            project=validated_data["project"],
            name=validated_data["name"],
            public_id=validated_data.get("public_id"),
        )


class CredentialSerializer(StrictJSONTypes, serializers.ModelSerializer):
    value = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=10_000, style={"input_type": "password"}
    )

    class Meta:
        model = Credential
        fields = ["id", "name", "value", "provider_id", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "provider_id": {
                "help_text": "The provider it is bound to (a connection of the provider API: "
                "stripe, github …); blank for a plain secret."
            }
        }

    def create(self, validated_data):
        request = self.context["request"]
        return services.credential_create(
            tenant=request.tenant,
            name=validated_data["name"],
            value=validated_data["value"],
            provider_id=validated_data.get("provider_id", ""),
            created_by=request.user,
        )


class ProjectViewSet(TenantScopedModelViewSet):
    field_names = {"public_id": "id"}
    queryset = Project.objects.all()
    serializer_class = ProjectSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[a-zA-Z0-9\-_.]+"
    http_method_names = ["get", "post", "head", "options"]


class AgentViewSet(TenantScopedModelViewSet):
    field_names = {"public_id": "id"}
    # Pending-deletion agents are gone for every surface (404, hidden from lists).
    queryset = Agent.objects.filter(deletion_requested_at__isnull=True).select_related("project")
    serializer_class = AgentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[a-zA-Z0-9\-_.]+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        services.agent_request_deletion(agent=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialViewSet(TenantScopedModelViewSet):
    queryset = Credential.objects.all()
    serializer_class = CredentialSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_destroy(self, instance):
        services.credential_delete(credential=instance)
