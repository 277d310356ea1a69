from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.admin_scope import TenantScopedAdmin
from executions.choices import ExecutionType
from executions.models import Execution
from executions.services import firing, lifecycle
from triggers.admin import TriggerAdmin
from triggers.models import Trigger


@admin.register(Execution)
class ExecutionAdmin(TenantScopedAdmin):
    """Read-only: executions are a record; they change only through the engine's services."""

    list_display = [
        "execution_id",
        "trigger",
        "tenant",
        "execution_type",
        "status",
        "scheduled_for",
        "item",
        "retry_count",
        "created_at",
        "duration_seconds",
    ]
    list_filter = ["status", "execution_type", "tenant"]
    search_fields = ["execution_id", "idempotency_key", "trigger__name", "worker_id"]
    list_select_related = ["trigger", "tenant"]
    date_hierarchy = "created_at"
    actions = ["cancel_executions"]

    @admin.action(
        description="Cancel selected pending or running executions", permissions=["cancel"]
    )
    def cancel_executions(self, request, queryset):
        cancelled = skipped = 0
        for execution in queryset:
            try:
                lifecycle.execution_cancel(execution=execution, cancelled_by=request.user)
                cancelled += 1
            except ValidationError:
                skipped += 1
        self.message_user(request, f"Cancelled {cancelled} execution(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} had already finished and were left alone.", messages.WARNING
            )

    @admin.display(description="item")
    def item(self, execution) -> str:
        """What fired a poll's execution: the item's id (and title, when it has one)."""
        data = execution.input_data
        if execution.execution_type != ExecutionType.POLLING or not isinstance(data, dict):
            return "-"
        item = data.get("item")
        title = item.get("title") if isinstance(item, dict) else None
        shown = str(data.get("item_id") or execution.idempotency_key or "-")
        return (f"{shown} — {title}" if title else shown)[:120]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["duration_seconds"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request) -> bool:
        # Cancelling is an operation, not an edit: staff who may view executions may stop one.
        return self.has_view_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The trigger admin, with the actions that need the execution engine (the triggers app
# cannot import it: docs/architecture.md); registered again in its place.
admin.site.unregister(Trigger)


@admin.register(Trigger)
class TriggerWithRunsAdmin(TriggerAdmin):
    actions = ["run_now", *TriggerAdmin.actions]

    @admin.action(description="Run selected triggers now (under their firing rules)")
    def run_now(self, request, queryset):
        fired = 0
        for trigger in queryset:
            try:
                firing.execution_run_now(trigger=trigger, requested_by=request.user)
                fired += 1
            except firing.FiringRefused as refused:
                self.message_user(request, f"{trigger}: not run. {refused.reason}", messages.ERROR)
        self.message_user(request, f"{fired} trigger(s) run.")
