"""The admin, scoped by tenant: staff act on their own tenants only.

A superuser (a platform operator) sees and changes every tenant's rows. A staff user who is
not one sees, opens, changes and runs actions on only the rows of the tenants they are a
member of: every tenant-owned model's admin is a ``TenantScopedAdmin``, which filters its
queryset (lists, detail pages, actions, raw-id pop-ups), limits the choices of its foreign
keys to those tenants' rows, and lists in its "tenant" filter only those tenants; a row's
tenant is read-only once it exists.
What the Django permissions allow still applies on top (a staff user needs "view trigger" to
see triggers at all).
"""

from django.contrib import admin
from django.db.models import Model, QuerySet

from accounts.models import Tenant


def member_tenants(user) -> QuerySet[Tenant]:
    """The tenants ``user`` is a member of."""
    return Tenant.objects.filter(memberships__user=user)


def sees_every_tenant(user) -> bool:
    return bool(user.is_active and user.is_superuser)


def _tenant_lookup(model: type[Model]) -> str | None:
    """The field path from ``model`` to its tenant (``tenant``, or ``pk`` for Tenant)."""
    if model is Tenant:
        return "pk"
    if any(field.name == "tenant" for field in model._meta.get_fields()):
        return "tenant"
    return None


def visible_tenant_ids(user) -> list[str] | None:
    """The ids of the tenants ``user`` may see in the admin; None: every tenant."""
    if sees_every_tenant(user):
        return None
    return list(member_tenants(user).values_list("pk", flat=True))


class TenantListFilter(admin.RelatedFieldListFilter):
    """The "tenant" filter: the tenants the user may see, read from the tenants alone (the
    stock "related only" filter reads every row of the list: millions of executions)."""

    def field_choices(self, field, request, model_admin):
        tenants = Tenant.objects.order_by("name")
        if not sees_every_tenant(request.user):
            tenants = tenants.filter(pk__in=member_tenants(request.user))
        return [(tenant.pk, str(tenant)) for tenant in tenants]


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows belong to a tenant through ``tenant_field`` (see module)."""

    tenant_field = "tenant"

    def get_readonly_fields(self, request, obj=None):
        """Its own read-only fields, and once the row exists its tenant: what refers to it
        (a trigger's agent and project, a flow's triggers, a channel's episodes) is that
        tenant's, so a row never moves to another (an outside account, which an operator
        binds on purpose, has an admin of its own rules)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.tenant_field == "tenant" and "tenant" not in fields:
            fields.insert(0, "tenant")
        return fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if sees_every_tenant(request.user):
            return queryset
        return queryset.filter(**{f"{self.tenant_field}__in": member_tenants(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not sees_every_tenant(request.user):
            related = db_field.related_model
            lookup = _tenant_lookup(related)
            if lookup is not None:
                kwargs["queryset"] = related._default_manager.filter(
                    **{f"{lookup}__in": member_tenants(request.user)}
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # The plain filter lists every tenant's name; this one only those the user may see.
        return [
            (name, TenantListFilter) if name == "tenant" else name
            for name in super().get_list_filter(request)
        ]
