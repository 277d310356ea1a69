"""The service's URLs plus the baseline of bench/webhooks.py: a bare DRF endpoint that
inserts one row (an execution) into the same database. Never mounted in production."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as service_urlpatterns
from executions.models import Execution


class InsertOneRow(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request, trigger_id: int):
        execution = Execution.objects.create(
            tenant_id=request.data.get("tenant", "bench"),
            trigger_id=trigger_id,
            execution_type="webhook",
            input_data=request.data,
        )
        return Response({"execution_id": str(execution.execution_id)}, status=202)


urlpatterns = [
    path("bench/insert/<int:trigger_id>", InsertOneRow.as_view()),
    *service_urlpatterns,
]
