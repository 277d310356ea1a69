"""The admin's users, groups and login records, scoped as every tenant-owned page is.

Django's own User, Group and django-axes admins show every row to anyone with the model's
permissions. A staff user who is not a superuser (a tenant's staff, accounts/admin_scope.py)
would see every tenant's users, could reset their passwords, and could make themselves or
anyone superuser. Here:

- users: a tenant's staff see and change only the users of their own tenants, never a
  superuser; who is staff or superuser, and groups and permissions, are read-only to them;
- groups and login records (axes' attempts and logs, which carry every tenant's usernames
  and addresses): the platform operator's, superusers only.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from accounts.admin_scope import member_tenants, sees_every_tenant

# What only a superuser may change on a user: who may act on the whole platform.
_PRIVILEGE_FIELDS = ["is_superuser", "is_staff", "groups", "user_permissions"]


class TenantUserAdmin(UserAdmin):
    def get_queryset(self, request):
        users = super().get_queryset(request)
        if sees_every_tenant(request.user):
            return users
        return (
            users.filter(memberships__tenant__in=member_tenants(request.user))
            .exclude(is_superuser=True)
            .distinct()
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not sees_every_tenant(request.user):
            fields += [name for name in _PRIVILEGE_FIELDS if name not in fields]
        return fields


class OperatorOnlyAdmin:
    """A ModelAdmin mixin: the pages are a superuser's alone, whatever permissions say."""

    def has_module_permission(self, request):
        return sees_every_tenant(request.user)

    def has_view_permission(self, request, obj=None):
        return sees_every_tenant(request.user)

    def has_add_permission(self, request, *args):
        return sees_every_tenant(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return sees_every_tenant(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return sees_every_tenant(request.user) and super().has_delete_permission(request, obj)


class OperatorGroupAdmin(OperatorOnlyAdmin, GroupAdmin):
    pass


def register_user_admins(site: admin.AdminSite = admin.site) -> None:
    """Replace Django's User and Group admins with the ones above."""
    user_model = get_user_model()
    for model, model_admin in ((user_model, TenantUserAdmin), (Group, OperatorGroupAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)


def restrict_login_records(site: admin.AdminSite = admin.site) -> None:
    """django-axes' pages (registered after this app's admin) become superusers' only;
    called from AccountsConfig.ready, once every app's admin is loaded."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        if not site.is_registered(model):
            continue
        registered = type(site.get_model_admin(model))
        site.unregister(model)
        site.register(
            model, type(f"Operator{registered.__name__}", (OperatorOnlyAdmin, registered), {})
        )
