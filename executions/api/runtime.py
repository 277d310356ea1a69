"""What an agent runtime posts back about an attempt it accepted (``202 {"status":
"accepted"}``): ``POST /api/executions/{execution_id}/result`` and ``…/heartbeat``
(docs/runners.md, "Asynchronous results").

No user: the Standard Webhooks signature is the authentication (no authentication classes,
so no CSRF either), checked by the service. Refusals are application/problem+json.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import PROBLEM_ERRORS, ApiError
from api.views import RequestIdMixin
from executions.runners.callbacks import CallbackRefused
from executions.services import results

_SIGNED = (
    "Signed with Standard Webhooks like the run request (the same secret); `webhook-id` is "
    "the run request's own followed by what the message is: `<execution_id>.<attempt>.result` "
    "or `<execution_id>.<attempt>.heartbeat`."
)
_RESULT_BODY = {
    "type": "object",
    "properties": {
        "output": {"description": "Any JSON; without it the whole object is the output."},
        "tokens_used": {"type": "integer", "nullable": True, "minimum": 0},
        "tools_executed": {"type": "array", "nullable": True, "items": {}},
        "conversation_id": {"type": "string", "nullable": True},
        "error": {"type": "string", "description": "The attempt failed (retried as any)."},
    },
    "additionalProperties": True,
}
_STATUS = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["completed", "pending", "failed"]}},
    "required": ["status"],
}


class _RuntimeCallback(RequestIdMixin, APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    error_format = PROBLEM_ERRORS
    documented_errors = ("400", "401", "404", "409", "411", "413", "500")

    def received(self, request, execution_id: str, receive):
        """``receive``'s answer, or its refusal in problem+json."""
        django_request = request._request
        try:
            return receive(
                execution_id=execution_id,
                headers=django_request.headers,
                content_length=django_request.META.get("CONTENT_LENGTH"),
                transfer_encoding=django_request.META.get("HTTP_TRANSFER_ENCODING"),
                read=lambda: django_request.body,
            )
        except CallbackRefused as refused:
            error = ApiError(refused.status, refused.detail, refused.code)
            return PROBLEM_ERRORS.response(error, request)


class ExecutionResultView(_RuntimeCallback):
    documented_errors = (*_RuntimeCallback.documented_errors, "422")

    @extend_schema(
        summary="An agent runtime's asynchronous result for an attempt it accepted",
        description=f"{_SIGNED} 409: the attempt awaits no result any more (finished, "
        "cancelled, a second result, another attempt now). 422: the answer cannot be "
        "stored (EXECUTION_OUTPUT_MAX_BYTES, storable JSON); the execution failed with "
        "the reason, as for a synchronous answer.",
        request={"application/json": _RESULT_BODY},
        responses={200: _STATUS},
        auth=[],
    )
    def post(self, request, execution_id=None):
        received = self.received(request, execution_id, results.execution_result_receive)
        if isinstance(received, Response):
            return received
        if received.unstorable:
            error = ApiError(422, received.unstorable, "unstorable_result")
            return PROBLEM_ERRORS.response(error, request)
        return Response({"status": received.execution.status})


class ExecutionHeartbeatView(_RuntimeCallback):
    @extend_schema(
        summary="An agent runtime is still at work on an attempt it accepted",
        description=f"{_SIGNED} The execution's timeout (EXECUTION_TIMEOUT_SECONDS) counts "
        "from now. 409: the attempt is over (finished, cancelled, another attempt now): "
        "stop its work.",
        request={"application/json": {"type": "object"}},
        responses={
            200: {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["running"]},
                    "timeout_seconds": {"type": "integer"},
                },
            }
        },
        auth=[],
    )
    def post(self, request, execution_id=None):
        received = self.received(request, execution_id, results.execution_heartbeat_receive)
        if isinstance(received, Response):
            return received
        return Response({"status": received.status, "timeout_seconds": results.timeout_seconds()})
