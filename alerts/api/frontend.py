"""The frontend API's alerts: ``/api/alert-channels`` and ``/api/alert-episodes``.

A tenant's channels only (the operator's, which hear every tenant, are the admin's). The URL
and the signing secret are write-only (stored encrypted): a channel shows ``url_preview``
(scheme and host) instead, and ``secret`` only in the one answer that made it (a webhook
channel created without one). ``POST /api/alert-channels/{id}/test`` sends a test message
now: 200 when the channel took it, 502 with the reason when it did not.

``/api/alert-episodes`` lists the tenant's episodes (read-only), newest first: what went
wrong, about what, since when, and whether it is over. The service's own episodes (the
scheduler's, the watcher's: no tenant) are the operator's, in the admin.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from alerts import conditions, selectors, services
from alerts.api.frontend_filters import TENANT_EVENT_CHOICES, FrontendEpisodeFilterSet
from alerts.choices import ChannelKind, NotificationStatus
from alerts.models import MAX_EMAIL_RECIPIENTS, AlertChannel, AlertEpisode
from api.strict import StrictJSONTypes
from api.views import TenantScopedViewSet


class AlertChannelSerializer(serializers.ModelSerializer):
    """A channel as the frontend API shows it."""

    events = serializers.ListField(child=serializers.ChoiceField(choices=TENANT_EVENT_CHOICES))
    email_to = serializers.ListField(child=serializers.EmailField())
    url_preview = serializers.SerializerMethodField()
    secret = serializers.SerializerMethodField()

    class Meta:
        model = AlertChannel
        fields = [
            "id",
            "name",
            "kind",
            "events",
            "enabled",
            "email_to",
            "url_preview",
            "secret",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_url_preview(self, channel) -> str | None:
        """Scheme and host of a Slack or webhook channel's URL (the rest is write-only)."""
        return channel.url_preview or None

    def get_secret(self, channel) -> str | None:
        """A webhook channel's signing secret, in the one answer that made it; else null."""
        return getattr(channel, "new_secret", None)


class _ChannelSettingsSerializer(StrictJSONTypes, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=TENANT_EVENT_CHOICES),
        help_text="What the channel is told about (default on create: all of them).",
    )
    enabled = serializers.BooleanField()
    email_to = serializers.ListField(
        child=serializers.EmailField(),
        max_length=MAX_EMAIL_RECIPIENTS,
        help_text="An email channel's recipients.",
    )
    url = serializers.CharField(
        max_length=services.URL_MAX_LENGTH,
        write_only=True,
        help_text="A Slack channel's incoming-webhook URL, or a webhook channel's URL; write-only.",
    )
    secret = serializers.CharField(
        write_only=True,
        help_text="A webhook channel's Standard Webhooks secret (whsec_…); write-only. "
        "Made when a webhook channel is created without one, and shown once.",
    )


class AlertChannelInputSerializer(_ChannelSettingsSerializer):
    """The body of ``POST /api/alert-channels``."""

    kind = serializers.ChoiceField(choices=ChannelKind.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("events", "enabled", "email_to", "url", "secret"):
            self.fields[name].required = False


class AlertChannelUpdateSerializer(_ChannelSettingsSerializer):
    """The body of ``PATCH /api/alert-channels/{id}``: every field optional; the kind is
    fixed."""

    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class ChannelTestFailed(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "channel_test_failed"


@extend_schema_view(
    list=extend_schema(summary="List the tenant's alert channels"),
    retrieve=extend_schema(summary="Get an alert channel"),
    destroy=extend_schema(summary="Delete an alert channel"),
)
class AlertChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    queryset = AlertChannel.objects.all()
    serializer_class = AlertChannelSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(
        summary="Create an alert channel",
        request=AlertChannelInputSerializer,
        responses={201: AlertChannelSerializer},
    )
    def create(self, request):
        body = AlertChannelInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = services.channel_create(
            tenant=request.tenant, created_by=request.user, **body.validated_data
        )
        return Response(AlertChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update an alert channel",
        request=AlertChannelUpdateSerializer,
        responses={200: AlertChannelSerializer},
    )
    def partial_update(self, request, pk=None):
        channel = self.get_object()
        body = AlertChannelUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = services.channel_update(channel=channel, **body.validated_data)
        return Response(AlertChannelSerializer(channel).data)

    def perform_destroy(self, instance):
        services.channel_delete(channel=instance)

    @extend_schema(
        summary="Send a test message through an alert channel, now",
        request=None,
        responses={
            200: OpenApiResponse(
                description="The channel took the test message.",
                response={
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                },
            ),
            502: OpenApiResponse(
                description="The channel did not take it (refused, unreachable, a private "
                "address); `detail` says why."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        notification = services.channel_send_test(channel=self.get_object())
        if notification.status != NotificationStatus.SENT:
            raise ChannelTestFailed(f"The test was not delivered: {notification.last_error}")
        return Response({"detail": "The test was delivered."})


class AlertEpisodeSerializer(serializers.ModelSerializer):
    """An episode as the frontend API shows it: ``subject`` is what it is about
    (``trigger:42``, ``tenant:acme``), ``trigger_id`` that trigger's id (else null)."""

    event = serializers.ChoiceField(choices=TENANT_EVENT_CHOICES)
    trigger_id = serializers.SerializerMethodField()
    close_summary = serializers.SerializerMethodField()
    open = serializers.SerializerMethodField()

    class Meta:
        model = AlertEpisode
        fields = [
            "id",
            "event",
            "subject",
            "trigger_id",
            "subject_label",
            "summary",
            "opened_at",
            "closed_at",
            "close_summary",
            "open",
        ]
        read_only_fields = fields

    def get_trigger_id(self, episode) -> int | None:
        """The trigger's id of a trigger's episode; null for a tenant's (its queue)."""
        return conditions.subject_trigger_id(episode.subject)

    def get_close_summary(self, episode) -> str | None:
        """Why it closed (recovered, or the trigger's status now); null while open."""
        return episode.close_summary or None

    def get_open(self, episode) -> bool:
        return episode.is_open


@extend_schema_view(
    list=extend_schema(summary="List the tenant's alert episodes, newest first"),
    retrieve=extend_schema(summary="Get an alert episode"),
)
class AlertEpisodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """``/api/alert-episodes``: the tenant's episodes, open and closed, newest first;
    read-only (the detection pass opens and closes them)."""

    queryset = AlertEpisode.objects.order_by(*selectors.NEWEST_FIRST)
    serializer_class = AlertEpisodeSerializer
    filterset_class = FrontendEpisodeFilterSet
    lookup_value_regex = r"\d+"
