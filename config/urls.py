"""Each API surface is mounted here; routes take no trailing slash (one is tolerated)."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.frontend import AgentViewSet, CredentialViewSet, ProjectViewSet
from accounts.api.oauth import TokenView
from alerts.api.frontend import AlertChannelViewSet, AlertEpisodeViewSet
from api.routers import OptionalSlashRouter
from config import observability
from executions.api.frontend import ExecutionViewSet, TriggerExecutionsViewSet
from executions.api.runtime import ExecutionHeartbeatView, ExecutionResultView
from flows.api.views import (
    ConnectionViewSet,
    FlowViewSet,
    MigrateUserIntentsView,
    NodeTypesView,
    NodeViewSet,
)
from providers.admin import catalog_view
from providers.api import (
    ProjectTriggersViewSet,
    ProviderTriggersView,
    ProviderTriggerView,
    SharedTriggerViewSet,
    TestSamplesView,
)
from triggers.api.agents import AgentTriggersViewSet
from triggers.api.frontend import TriggerViewSet
from webhooks import views as webhooks
from webhooks.api.manage import InvocationViewSet, ManageTriggerViewSet
from webhooks.api.provider_hooks import ProviderWebhookView, TriggerKeyView

# The frontend API.
frontend = OptionalSlashRouter()
frontend.register("projects", ProjectViewSet, basename="project")
frontend.register("agents", AgentViewSet, basename="agent")
frontend.register("credentials", CredentialViewSet, basename="credential")
frontend.register("triggers", TriggerViewSet, basename="trigger")
frontend.register("triggers", TriggerExecutionsViewSet, basename="trigger-execution")
frontend.register("executions", ExecutionViewSet, basename="execution")
frontend.register("alert-channels", AlertChannelViewSet, basename="alert-channel")
frontend.register("alert-episodes", AlertEpisodeViewSet, basename="alert-episode")

# The flows API: flows, with their nodes and connections nested under them.
flows = OptionalSlashRouter()
flows.register("flows", FlowViewSet, basename="flow")
flows.register(r"flows/(?P<flow_id>[^/]+)/nodes", NodeViewSet, basename="flow-node")
flows.register(
    r"flows/(?P<flow_id>[^/]+)/connections", ConnectionViewSet, basename="flow-connection"
)


# The agent API and the provider API, at the root as their contracts write them; /triggers
# is both's (one object carries the fields of both).
_agent_triggers = AgentTriggersViewSet.as_view
_shared = SharedTriggerViewSet.as_view
_UUID = r"[^/]+"
agent_and_provider_apis = [
    re_path(r"^triggers/?$", _shared({"get": "list"}), name="triggers"),
    re_path(
        rf"^triggers/(?P<id>{_UUID})/?$",
        _shared({"get": "retrieve", "delete": "destroy"}),
        name="trigger",
    ),
    re_path(rf"^triggers/(?P<id>{_UUID})/enable/?$", _shared({"post": "enable"})),
    re_path(rf"^triggers/(?P<id>{_UUID})/disable/?$", _shared({"post": "disable"})),
    re_path(
        r"^agents/(?P<agent_id>[^/]+)/triggers/?$",
        _agent_triggers({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="agent-trigger-set",
    ),
    re_path(
        r"^agents/(?P<agent_id>[^/]+)/triggers/enable/?$",
        _agent_triggers({"post": "enable"}),
        name="agent-triggers-enable",
    ),
    re_path(
        r"^agents/(?P<agent_id>[^/]+)/triggers/disable/?$",
        _agent_triggers({"post": "disable"}),
        name="agent-triggers-disable",
    ),
    re_path(
        r"^projects/(?P<project_id>[^/]+)/triggers/?$",
        ProjectTriggersViewSet.as_view({"get": "list", "post": "create"}),
        name="project-triggers",
    ),
    re_path(r"^providers/(?P<provider_id>[^/]+)/triggers/?$", ProviderTriggersView.as_view()),
    re_path(
        r"^providers/(?P<provider_id>[^/]+)/triggers/(?P<trigger_id>[^/]+)/?$",
        ProviderTriggerView.as_view(),
    ),
    re_path(
        rf"^api/v0/project-triggers/(?P<project_trigger_id>{_UUID})/test-samples/?$",
        TestSamplesView.as_view(),
    ),
    re_path(r"^v1/webhooks/(?P<webhook_id>[^/]+)/?$", ProviderWebhookView.as_view()),
    *(
        re_path(
            r"^organizations/(?P<org_id>[^/]+)/triggers/(?P<project_trigger_id>[^/]+)"
            rf"/{kind}/key/(?P<api_key>[^/]+)/?$",
            TriggerKeyView.as_view(),
            {"kind": kind},
        )
        for kind in ("webhook", "polling", "scheduled")
    ),
]


# The management API: an agent's webhook triggers and their invocations.
_ID = r"[a-zA-Z0-9\-_.]{1,255}"
_AGENT = (
    rf"^manage/tenants/(?P<tenantId>{_ID})/projects/(?P<projectId>{_ID})"
    rf"/agents/(?P<agentId>{_ID})/triggers"
)
# Any trigger id reaches the views, which answer one outside the contract's pattern with a
# 400 naming it (webhooks/api/manage.py), as the contract validates its path parameters.
_TRIGGER = rf"{_AGENT}/(?P<id>[^/]+)"
management_api = [
    re_path(
        rf"{_AGENT}/?$",
        ManageTriggerViewSet.as_view({"get": "list", "post": "create"}),
        name="manage-triggers",
    ),
    re_path(
        rf"{_TRIGGER}/?$",
        ManageTriggerViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="manage-trigger",
    ),
    re_path(
        rf"{_TRIGGER}/rerun/?$",
        ManageTriggerViewSet.as_view({"post": "rerun"}),
        name="manage-trigger-rerun",
    ),
    re_path(
        rf"{_TRIGGER}/invocations/?$",
        InvocationViewSet.as_view({"get": "list"}),
        name="manage-invocations",
    ),
    re_path(
        rf"{_TRIGGER}/invocations/(?P<invocationId>[^/]+)/?$",
        InvocationViewSet.as_view({"get": "retrieve"}),
        name="manage-invocation",
    ),
]


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    # Webhook deliveries (docs/webhooks.md): the generated URL and the agent API's custom paths.
    # First, because they are the busiest routes and Django tries the patterns in order.
    path("hooks/p/<path:path>", webhooks.receive_by_path, name="webhook-by-path"),
    path("hooks/<str:token>", webhooks.receive_by_token, name="webhook-by-token"),
    path("hooks/<str:token>/", webhooks.receive_by_token),
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics_view, name="metrics"),
    re_path(r"^token/?$", TokenView.as_view(), name="oauth2-token"),
    path("admin/catalog/", admin.site.admin_view(catalog_view), name="admin-catalog"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/node-types/?$", NodeTypesView.as_view(), name="node-types"),
    re_path(
        r"^api/admin/migrate-user-intents/?$",
        MigrateUserIntentsView.as_view(),
        name="migrate-user-intents",
    ),
    # An agent runtime's asynchronous result and heartbeats (signed; docs/runners.md).
    re_path(
        r"^api/executions/(?P<execution_id>[^/]+)/result/?$",
        ExecutionResultView.as_view(),
        name="execution-result",
    ),
    re_path(
        r"^api/executions/(?P<execution_id>[^/]+)/heartbeat/?$",
        ExecutionHeartbeatView.as_view(),
        name="execution-heartbeat",
    ),
    path("api/", include(frontend.urls)),
    path("api/", include(flows.urls)),
    *agent_and_provider_apis,
    *management_api,
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
