from django.contrib import admin

from executions.models import Execution


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    """Read-only: executions are a record; they change only through the engine's services."""

    list_display = [
        "execution_id",
        "trigger",
        "tenant",
        "execution_type",
        "status",
        "scheduled_for",
        "retry_count",
        "created_at",
        "duration_seconds",
    ]
    list_filter = ["status", "execution_type", "tenant"]
    search_fields = ["execution_id", "idempotency_key", "trigger__name", "worker_id"]
    list_select_related = ["trigger", "tenant"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["duration_seconds"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
