"""Behaviour shared by every tenant-scoped API view: the one place scoping happens."""

from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings


class TenantScopedMixin:
    """Filters ``queryset`` to the caller's tenant, so no view can forget to.

    Subclasses set ``queryset`` to the model's base queryset (with its joins); every
    model behind the APIs carries a ``tenant`` foreign key.
    """

    tenant_field = "tenant"

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.request.tenant})


class ArrayLimitOffsetPagination(LimitOffsetPagination):
    """``limit``/``offset`` paging whose body stays a plain JSON array, as the seeds show.

    The total count travels in the ``X-Total-Count`` header instead. A malformed or
    out-of-range ``limit``/``offset`` is a 400 naming the parameter, not silently ignored.
    """

    default_limit = 100
    max_limit = 1000

    def get_limit(self, request):
        return self._read(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._read(request, self.offset_query_param, 0, 0, None)

    @staticmethod
    def _read(request, name: str, default: int, minimum: int, maximum: int | None) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise serializers.ValidationError({name: ["A valid integer is required."]}) from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
            raise serializers.ValidationError({name: [f"Must be {bound}."]})
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(
                    minimum=1, maximum=self.max_limit, default=self.default_limit
                )
            if parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, default=0)
        return parameters

    def get_paginated_response(self, data):
        return Response(data, headers={"X-Total-Count": str(self.count)})

    def get_paginated_response_schema(self, schema):
        return schema


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


@contextmanager
def service_errors(field_names: dict[str, str] | None = None):
    """Turn a service's Django ValidationError into DRF's 400, keyed by this surface's names.

    Services validate with model field names (``cron_expression``); a surface that calls
    that field something else (``custom_cron_expression``) passes the mapping.
    """
    try:
        yield
    except DjangoValidationError as error:
        names = field_names or {}
        if hasattr(error, "error_dict"):
            detail = {
                _surface_key(key, names): messages for key, messages in error.message_dict.items()
            }
        else:
            detail = {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
        raise serializers.ValidationError(detail) from None


def _surface_key(key: str, names: dict[str, str]) -> str:
    return api_settings.NON_FIELD_ERRORS_KEY if key == NON_FIELD_ERRORS else names.get(key, key)
