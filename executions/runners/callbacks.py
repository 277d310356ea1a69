"""What an agent runtime posts back about an attempt it accepted (``202 {"status":
"accepted"}``): its result, or a heartbeat (docs/runners.md, "Asynchronous results"). Pure:
no database.

Both are signed like the run request — Standard Webhooks, the same secret — with a
``webhook-id`` that is the run request's own followed by what the message is:
``<execution_id>.<attempt>.result`` or ``….heartbeat``. The message names the attempt it
answers, and that name is signed; the suffix keeps a run request (signed with the same
secret, seen by the runtime) from being posted back as a result. A refusal is a
``CallbackRefused`` with its HTTP status.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api import storable
from executions.runners.base import (
    AgentResult,
    UnrunnableError,
    checked_result,
    signing_secrets,
)

_MESSAGE_ID = re.compile(r"(?P<execution_id>[^.]+)\.(?P<attempt>[0-9]{1,5})\.(?P<kind>[a-z]+)")
RESULT, HEARTBEAT = "result", "heartbeat"


class CallbackRefused(Exception):
    """A runtime's post that changes nothing; ``status`` and ``code`` say why."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str = ""):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class Unsigned(CallbackRefused):
    """No signature, a wrong one, or a timestamp more than 5 minutes off."""

    status = 401
    code = "invalid_signature"


class MalformedCallback(CallbackRefused):
    """A body that is not a JSON object, a field of the wrong type, a bad ``webhook-id``."""

    status = 400
    code = "invalid_result"


class UnknownExecution(CallbackRefused):
    status = 404
    code = "not_found"


class NotAwaited(CallbackRefused):
    """The attempt awaits nothing any more: finished, cancelled, or another attempt now."""

    status = 409
    code = "not_awaiting_result"


class LengthRequired(CallbackRefused):
    status = 411
    code = "length_required"


class BodyTooLarge(CallbackRefused):
    status = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class RuntimeFailure:
    """The runtime's ``error``: the attempt failed with this message."""

    message: str


def check_declared_size(
    content_length: str | None, transfer_encoding: str | None, *, max_bytes: int
) -> None:
    """Refuse, before reading it, a body over ``max_bytes`` (the most a synchronous answer
    may be): it could not be verified without reading it all."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        raise LengthRequired("Send the body with a Content-Length, not chunked.")
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise BodyTooLarge(
            f"The body is larger than {max_bytes} bytes (EXECUTION_OUTPUT_MAX_BYTES); "
            'post {"error": …} instead to fail the attempt.'
        )


def verified_attempt(
    body: bytes, headers: Mapping[str, str], *, secret: str, kind: str
) -> tuple[str, int]:
    """(execution id, attempt) that the signed ``webhook-id`` names, once the signature
    verifies over ``body`` with ``secret`` (Unsigned otherwise; MalformedCallback for a
    ``webhook-id`` that is not ``<execution_id>.<attempt>.<kind>``)."""
    if not secret:
        raise Unsigned(
            "No signing secret is set (AGENT_RUNTIME_SIGNING_SECRET): nothing can verify."
        )
    headers = {name.lower(): value for name, value in headers.items()}
    # Any of the secrets (base.signing_secrets: two while one is rotated) verifies it.
    for each in signing_secrets(secret):
        try:
            Webhook(each).verify(body, headers, json_parse=False)
            break
        except WebhookVerificationError as error:
            refusal = error
    else:
        raise Unsigned(f"The Standard Webhooks signature does not verify: {refusal}.")
    named = _MESSAGE_ID.fullmatch(headers["webhook-id"])
    if named is None or named["kind"] != kind:
        raise MalformedCallback(
            f"webhook-id must be the run request's own followed by .{kind}: "
            f"<execution_id>.<attempt>.{kind}.",
            code="invalid_message_id",
        )
    return named["execution_id"], int(named["attempt"])


def parsed_result(body: bytes, *, max_bytes: int) -> AgentResult | RuntimeFailure:
    """The result a runtime posted, as a synchronous answer would give it: ``output`` (else
    the whole object) as storable JSON within ``max_bytes``, ``tokens_used``,
    ``tools_executed``, ``conversation_id``; or, with ``error``, a failure.

    MalformedCallback for a body that is not a JSON object or a field of the wrong type;
    UnrunnableError for an answer that cannot be stored (as for a synchronous one)."""
    try:
        reply = storable.loads(body.decode("utf-8"))
    except storable.UnstorableJSON as unstorable:
        raise UnrunnableError(
            f"The agent's answer cannot be stored: {unstorable.problem} "
            "(EXECUTION_OUTPUT_MAX_BYTES)."
        ) from None
    except ValueError:  # not UTF-8, not JSON
        raise MalformedCallback("The body is not JSON.") from None
    if not isinstance(reply, dict):
        raise MalformedCallback("The body is not a JSON object.")
    error = reply.get("error")
    if error is not None:
        if not isinstance(error, str) or not error.strip():
            raise MalformedCallback("error: must be a non-empty string.")
        return RuntimeFailure(error)
    tokens_used = reply.get("tokens_used")
    if tokens_used is not None and (
        not isinstance(tokens_used, int) or isinstance(tokens_used, bool) or tokens_used < 0
    ):
        raise MalformedCallback("tokens_used: must be a non-negative integer or null.")
    for name, kind, what in (
        ("tools_executed", list, "an array"),
        ("conversation_id", str, "a string"),
    ):
        if reply.get(name) is not None and not isinstance(reply[name], kind):
            raise MalformedCallback(f"{name}: must be {what} or null.")
    result = AgentResult(
        output_data=reply.get("output", reply),
        tokens_used=tokens_used,
        tools_executed=reply.get("tools_executed"),
        conversation_id=reply.get("conversation_id") or "",
    )
    return checked_result(result, max_bytes=max_bytes)
