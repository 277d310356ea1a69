"""Base views every surface builds on: tenant scoping, paging, and the surface's errors.

A surface's views set ``error_format`` (api/errors.py) and, when the surface names a model
field differently, ``field_names`` (model field → surface field), which the exception
handler uses for errors raised by services. Every model behind an API carries ``tenant``;
``get_queryset`` filters by the caller's, so another tenant's object is simply not found
(404, never 403).
"""

from django.db.models import Model, QuerySet
from rest_framework import generics, mixins, viewsets

from api.errors import DRF_ERRORS, REQUEST_ID_HEADER, ErrorFormat, request_id
from api.pagination import ArrayLimitOffsetPagination


class TenantScopedMixin:
    """Filters ``queryset`` to the caller's tenant (``request.tenant``, set by the tenant
    permission), so no view can forget to; ``tenant_field`` says where the tenant is."""

    tenant_field = "tenant"
    error_format: ErrorFormat = DRF_ERRORS
    field_names: dict[str, str] = {}
    # The status of a service's ValidationError: 400, or 422 on a surface that answers a
    # well-formed body a business rule refuses with 422 (api.errors.as_api_exception).
    domain_error_status = 400

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.request.tenant})

    def tenant_object_or_404(self, queryset: QuerySet, **lookup) -> Model:
        """The object of ``queryset`` (a model with a ``tenant``) in the caller's tenant; 404
        when there is none, also when a lookup value is malformed (not a UUID, say)."""
        return generics.get_object_or_404(queryset.filter(tenant=self.request.tenant), **lookup)


class TenantScopedViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    pagination_class = ArrayLimitOffsetPagination


class TenantScopedModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    pass


class RequestIdMixin:
    """Every answer carries ``X-Request-Id``: the client's when it sent a sane one, else a new
    one (api.errors.request_id); error bodies and the log of a 500 carry the same id."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response[REQUEST_ID_HEADER] = request_id(request)
        return response
