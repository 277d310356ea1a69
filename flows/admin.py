from django.contrib import admin, messages

from accounts.admin_scope import TenantScopedAdmin
from flows import services
from flows.models import Connection, Flow, Node


class NodeInline(admin.TabularInline):
    model = Node
    extra = 0
    fields = ["type", "name", "position_x", "position_y", "parameters"]


class ConnectionInline(admin.TabularInline):
    model = Connection
    extra = 0
    fields = ["source", "source_handle", "target", "target_handle"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only this flow's nodes can be ends of its connections.
        flow_id = request.resolver_match.kwargs.get("object_id")
        if db_field.name in ("source", "target"):
            kwargs["queryset"] = Node.objects.filter(flow_id=flow_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Flow)
class FlowAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "tool_name",
        "app",
        "tenant",
        "is_active",
        "has_legacy_intent",
        "updated_at",
    ]
    list_filter = ["is_active", "tenant"]
    search_fields = ["name", "tool_name", "app__public_id"]
    list_select_related = ["app", "tenant"]
    readonly_fields = ["legacy_when_to_use", "legacy_when_not_to_use", "created_at", "updated_at"]
    inlines = [NodeInline, ConnectionInline]
    actions = ["migrate_user_intents"]

    @admin.display(boolean=True, description="Legacy intent")
    def has_legacy_intent(self, flow) -> bool:
        return flow.has_legacy_intent

    @admin.action(description="Move flow-level user intents into UserIntent nodes")
    def migrate_user_intents(self, request, queryset):
        report = services.user_intents_migrate(flows=queryset)
        self.message_user(
            request,
            f"Migrated {report.migrated_flows} flow(s), created {report.created_nodes} node(s).",
            messages.SUCCESS,
        )
        for error in report.errors:
            self.message_user(request, f"Flow {error['flowId']}: {error['error']}", messages.ERROR)
