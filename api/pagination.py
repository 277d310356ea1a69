"""The two paging styles the surfaces use.

- ``ArrayLimitOffsetPagination`` (frontend, agent and flows APIs): ``limit``/``offset``, the
  body a plain JSON array, the total in ``X-Total-Count``.
- ``PageEnvelopePagination`` (management API): ``page``/``limit``, the body
  ``{"data": [...], "pagination": {"page", "limit", "total", "pages"}}``.

A malformed or out-of-range parameter is a 400 naming it, never silently replaced. A total
above LIST_EXACT_COUNT_LIMIT rows is an estimate (api/counting.py).

A deep page (from row DEFERRED_JOIN_OFFSET on) is read in two steps: the page's primary keys
first, which an index on the list's filter and order answers without touching the table,
then those rows alone. One query would fetch and discard every skipped row from the table:
at offset 10,000 that is 10,000 random reads (docs/benchmarks.md, "Lists at scale"). A list
that joins a related table (``select_related``) is read in two steps from the first page on:
with the join, PostgreSQL hashes and sorts the tenant's every row instead of walking the
order's index for the page (136 ms against 0.2 ms at 100,000 triggers).
"""

import math
import re

from rest_framework import serializers
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.response import Response

from api.counting import bounded_count

DEFERRED_JOIN_OFFSET = 1000


def page_rows(queryset, offset: int, limit: int) -> list:
    """The rows ``offset`` to ``offset + limit`` of ``queryset``, in its order."""
    if offset < DEFERRED_JOIN_OFFSET and not queryset.query.select_related:
        return list(queryset[offset : offset + limit])
    keys = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    return list(queryset.filter(pk__in=keys)) if keys else []


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def read_int_parameter(
    request, name: str, *, default: int, minimum: int, maximum: int | None = None
) -> int:
    """The integer query parameter ``name``; a 400 naming it when malformed or out of range."""
    given = request.query_params.getlist(name)
    if not given:
        return default
    if len(given) > 1:
        raise serializers.ValidationError({name: ["Give this parameter once."]})
    raw = given[0].strip()
    # ASCII digits with an optional sign only: int() also takes "1_0" and other scripts' digits.
    if not _INTEGER.fullmatch(raw):
        raise serializers.ValidationError({name: ["A valid integer is required."]})
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        raise serializers.ValidationError({name: [f"Must be {bound}."]})
    return value


def _integer_schema(minimum: int, maximum: int | None, default: int) -> dict:
    schema = {"type": "integer", "minimum": minimum, "default": default}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


class ArrayLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` (1-1000, default 100) and ``offset``; a JSON array, ``X-Total-Count``."""

    default_limit = 100
    max_limit = 1000

    def get_limit(self, request):
        return read_int_parameter(
            request, self.limit_query_param, default=self.default_limit, minimum=1,
            maximum=self.max_limit,
        )  # fmt: skip

    def get_offset(self, request):
        return read_int_parameter(request, self.offset_query_param, default=0, minimum=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(_integer_schema(1, self.max_limit, self.default_limit))
            if parameter["name"] == self.offset_query_param:
                parameter["schema"].update(_integer_schema(0, None, 0))
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count, self.estimated = bounded_count(queryset)
        if not self.estimated and self.offset >= self.count:
            return []
        return page_rows(queryset, self.offset, self.limit)

    def get_paginated_response(self, data):
        headers = {"X-Total-Count": str(self.count)}
        if self.estimated:
            headers["X-Total-Count-Estimated"] = "true"
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema):
        return schema


class PageEnvelopePagination(BasePagination):
    """``page`` (≥ 1, default 1) and ``limit`` (1-100, default 10); the page in ``data`` and
    ``{page, limit, total, pages}`` in ``pagination``. A page past the last is empty."""

    default_limit = 10
    max_limit = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.page = read_int_parameter(request, "page", default=1, minimum=1)
        self.limit = read_int_parameter(
            request, "limit", default=self.default_limit, minimum=1, maximum=self.max_limit
        )
        self.total, estimated = bounded_count(queryset)
        start = (self.page - 1) * self.limit
        if not estimated and start >= self.total:
            return []
        return page_rows(queryset, start, self.limit)

    def get_paginated_response(self, data):
        return Response(
            {
                "data": data,
                "pagination": {
                    "page": self.page,
                    "limit": self.limit,
                    "total": self.total,
                    "pages": math.ceil(self.total / self.limit),
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "data": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        name: {"type": "integer"} for name in ("page", "limit", "total", "pages")
                    },
                    "required": ["page", "limit", "total", "pages"],
                },
            },
            "required": ["data", "pagination"],
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "page", "in": "query", "required": False,
             "schema": _integer_schema(1, None, 1)},
            {"name": "limit", "in": "query", "required": False,
             "schema": _integer_schema(1, self.max_limit, self.default_limit)},
        ]  # fmt: skip
