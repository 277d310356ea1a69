"""Counting a list's rows without reading a million of them.

A list's total (``X-Total-Count``, the management API's ``pagination.total``) is exact up to
``LIST_EXACT_COUNT_LIMIT`` rows (10,000 by default): the count reads at most that many index
entries (``SELECT count(*) FROM (… LIMIT n+1)``). Above it, the total is PostgreSQL's planner
estimate for the same query (``EXPLAIN``), never less than the limit + 1, and the answer says
so (``X-Total-Count-Estimated: true``). So a first page costs the same at 10,000 rows and at
10 million; only a client that pages to the very end meets the estimate.
"""

import json

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet


def bounded_count(queryset: QuerySet, *, limit: int | None = None) -> tuple[int, bool]:
    """(the number of rows, whether it is an estimate) — see the module docstring;
    ``limit`` replaces LIST_EXACT_COUNT_LIMIT."""
    limit = settings.LIST_EXACT_COUNT_LIMIT if limit is None else limit
    unordered = queryset.order_by()
    exact = unordered[: limit + 1].count()
    if exact <= limit:
        return exact, False
    return max(limit + 1, _planner_rows(unordered)), True


def _planner_rows(queryset: QuerySet) -> int:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":  # no cheap estimate: count (SQLite, small setups)
        return queryset.count()
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
