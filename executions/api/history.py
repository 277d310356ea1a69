"""How far history goes, said on every list of executions, whatever the surface (the frontend
API's ``/api/executions`` and ``/api/triggers/{id}/executions``, the management API's
invocations): two response headers, so no contract's body changes (docs/api.md, "How far
history goes").

- ``X-History-Retention-Days``: the caller's tenant's retention in days (its own, else
  EXECUTION_RETENTION_DAYS); ``0``: kept forever, as the setting says it.
- ``X-History-Since``: ISO 8601 in UTC, to the second; executions that finished before it
  are deleted (at the latest by the next prune pass, a minute later), pending and running
  ones never. Absent when nothing is deleted.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from accounts.models import Tenant
from api.timestamps import iso_z
from executions.selectors import history_retention

RETENTION_DAYS_HEADER = "X-History-Retention-Days"
SINCE_HEADER = "X-History-Since"

HISTORY_HEADERS = [
    OpenApiParameter(
        RETENTION_DAYS_HEADER,
        OpenApiTypes.INT,
        location=OpenApiParameter.HEADER,
        response=[200],
        description="How many days finished executions are kept (the tenant's retention); "
        "0: forever.",
    ),
    OpenApiParameter(
        SINCE_HEADER,
        OpenApiTypes.DATETIME,
        location=OpenApiParameter.HEADER,
        response=[200],
        description="Executions that finished before this moment (UTC) are deleted; pending "
        "and running ones are kept. Absent when history is kept forever.",
    ),
]


def with_history_headers(response: Response, tenant: Tenant) -> Response:
    """``response`` (a list of ``tenant``'s executions) saying how far its history goes."""
    retention = history_retention(tenant=tenant, now=timezone.now().replace(microsecond=0))
    response[RETENTION_DAYS_HEADER] = str(retention.days)
    if retention.since is not None:
        response[SINCE_HEADER] = iso_z(retention.since)
    return response
