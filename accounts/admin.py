from django import forms
from django.contrib import admin

from accounts import services
from accounts.admin_scope import TenantScopedAdmin
from accounts.models import Agent, ApiToken, Credential, Membership, Project, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "tenant__id"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Tokens are created with ``manage.py create_api_token``; here they can be revoked."""

    list_display = ["prefix", "name", "user", "tenant", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user", "tenant"]
    readonly_fields = ["prefix", "digest", "user", "tenant", "created_at", "last_used_at"]
    fields = ["name", "prefix", "user", "tenant", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(TenantScopedAdmin):
    list_display = ["public_id", "name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["public_id", "name"]
    list_select_related = ["tenant"]


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    list_display = ["public_id", "name", "project", "tenant", "runner", "deletion_requested_at"]
    list_filter = ["tenant", "runner", ("deletion_requested_at", admin.EmptyFieldListFilter)]
    search_fields = ["public_id", "name"]
    list_select_related = ["tenant", "project"]
    actions = ["request_deletion"]

    @admin.action(description="Mark selected agents pending deletion (their triggers go stale)")
    def request_deletion(self, request, queryset):
        for agent in queryset:
            services.agent_request_deletion(agent=agent)
        self.message_user(request, f"{queryset.count()} agent(s) marked pending deletion.")


class CredentialForm(forms.ModelForm):
    """The value can be set or replaced, never read back."""

    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Write-only. Leave empty to keep the current value.",
    )

    class Meta:
        model = Credential
        fields = ["tenant", "name", "provider_id"]

    def clean(self):
        cleaned = super().clean()
        if self.instance._state.adding and not cleaned.get("value"):
            self.add_error("value", "A new credential needs a value.")
        return cleaned


@admin.register(Credential)
class CredentialAdmin(TenantScopedAdmin):
    form = CredentialForm
    list_display = ["name", "tenant", "provider_id", "created_at", "updated_at"]
    list_filter = ["tenant", "provider_id"]
    search_fields = ["name"]
    list_select_related = ["tenant"]

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data.get("value")
        if change:
            obj.save()
            if value:
                services.credential_set_value(credential=obj, value=value)
        else:
            created = services.credential_create(
                tenant=obj.tenant,
                name=obj.name,
                value=value,
                provider_id=obj.provider_id,
                created_by=request.user,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.credential_delete(credential=obj)

    def delete_queryset(self, request, queryset):
        for credential in queryset:
            services.credential_delete(credential=credential)
