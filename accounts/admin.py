from django import forms
from django.conf import settings
from django.contrib import admin

from accounts import services
from accounts.admin_scope import TenantScopedAdmin
from accounts.admin_users import register_user_admins
from accounts.models import (
    Agent,
    ApiToken,
    Credential,
    Membership,
    OutsideAccount,
    Project,
    Tenant,
)
from accounts.selectors import user_public_id

register_user_admins()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ["id", "name", "history_kept", "created_at"]
    search_fields = ["id", "name"]
    fields = ["id", "name", "execution_retention_days", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    @admin.display(description="history kept")
    def history_kept(self, tenant) -> str:
        own = tenant.execution_retention_days
        days = settings.EXECUTION_RETENTION_DAYS if own is None else own
        shown = "forever" if days == 0 else f"{days} days"
        return shown if own is not None else f"{shown} (the default)"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("id")  # the key every row of the tenant points at
        # How long history is kept costs the operator's disk: theirs to choose, not a
        # tenant's staff's, who see it.
        if not request.user.is_superuser:
            fields.append("execution_retention_days")
        return fields

    def save_model(self, request, obj, form, change):
        services.tenant_save(tenant=obj)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "user_public_id", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__identity__public_id", "tenant__id"]
    list_select_related = ["user__identity", "tenant"]
    autocomplete_fields = ["user", "tenant"]

    @admin.display(description="user's public id")
    def user_public_id(self, membership):
        # The id the APIs show for the user and take where one is named (runAsUserIds).
        return user_public_id(membership.user)


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
        # The tenant is read-only on change, so Django's own check of the (tenant, name)
        # constraint leaves it out: the clash is checked here, as a form error.
        name = cleaned.get("name")
        if not self.instance._state.adding and name:
            others = Credential.objects.filter(tenant_id=self.instance.tenant_id, name=name)
            if others.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "A credential with this name already exists.")
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
            services.credential_update(
                credential=obj, name=obj.name, provider_id=obj.provider_id, value=value
            )
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


@admin.register(OutsideAccount)
class OutsideAccountAdmin(TenantScopedAdmin):
    """Which tenant each outside account (Slack workspace, GitHub account, Stripe account)
    belongs to. Staff see their tenants' accounts; only an operator (a superuser) binds, moves
    or frees one — and sees the unclaimed accounts whose events reached no one."""

    list_display = [
        "provider_id", "account_id", "tenant", "bound_by", "bound_at", "last_unrouted_at",
    ]  # fmt: skip
    list_filter = ["provider_id", "tenant", ("tenant", admin.EmptyFieldListFilter)]
    search_fields = ["account_id"]
    list_select_related = ["tenant"]
    readonly_fields = ["bound_by", "bound_at", "last_unrouted_at", "created_at"]
    fields = ["provider_id", "account_id", "tenant", *readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # an account's identity stays; its tenant may change
            return ["provider_id", "account_id", *self.readonly_fields]
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        services.outside_account_bind(
            account=obj, tenant=obj.tenant, bound_by=f"admin {request.user.get_username()}"
        )
