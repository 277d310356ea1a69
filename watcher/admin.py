from django.contrib import admin

from accounts.admin_scope import TenantScopedAdmin
from watcher.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(TenantScopedAdmin):
    """Read-only: what the watcher last recorded of each watched file (docs/watcher.md)."""

    list_display = ["relative_path", "ledger", "size", "mtime_ns", "last_event", "recorded_at"]
    list_filter = ["last_event"]
    search_fields = ["relative_path"]
    list_select_related = ["ledger"]
    tenant_field = "ledger__trigger__tenant"
    readonly_fields = [field.name for field in LedgerEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
