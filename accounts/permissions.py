from rest_framework import permissions

from accounts.choices import WRITE_ROLES
from accounts.selectors import membership_for_request


class IsTenantMember(permissions.BasePermission):
    """The caller is a member of a tenant; viewers may only read.

    Sets ``request.tenant`` and ``request.membership``, which every scoped view relies on.
    """

    message = "You are not a member of a tenant (send X-Tenant to choose one)."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        # A view whose path names the tenant (the management API's tenantId) says which kwarg.
        kwarg = getattr(view, "path_tenant_kwarg", None)
        path_tenant = view.kwargs.get(kwarg) if kwarg else None
        membership = membership_for_request(request, path_tenant=path_tenant)
        if membership is None:
            return False
        request.tenant = membership.tenant
        request.membership = membership
        if request.method in permissions.SAFE_METHODS:
            return True
        self.message = "Your role in this tenant is read-only."
        return membership.role in WRITE_ROLES
