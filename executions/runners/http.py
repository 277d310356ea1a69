"""The ``http`` runner: POST the execution to the agent runtime, signed (Standard Webhooks).

Request: ``AgentRequest.as_json()`` as the JSON body, with ``webhook-id`` (the execution id
and attempt, ``<execution_id>.<attempt>``, so a receiver can tell a retry from a
re-delivery), ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``
with the ``whsec_`` secret of AGENT_RUNTIME_SIGNING_SECRET; one signature per secret,
space-separated, while it holds two during a rotation). Response: 2xx with a JSON
object; ``output`` (or, without it, the whole object) becomes ``output_data``,
``tokens_used``, ``tools_executed`` and ``conversation_id`` are read when present. A
timeout, a connection error, another status or a body that is not a JSON object fails the
attempt; the whole exchange has AGENT_RUNTIME_TIMEOUT_SECONDS (exchange.py). A cancelled
execution's request is interrupted (exchange.py). A 202 ``{"status": "accepted"}`` defers
the result: the runtime posts it later (``ResultDeferred``; executions/runners/callbacks.py
reads it). See docs/runners.md.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from executions.runners.base import (
    AgentRequest,
    AgentResult,
    ResultDeferred,
    RunnerError,
    UnrunnableError,
    signing_secrets,
)
from executions.runners.exchange import ResponseTooLarge, send
from executions.runners.outbound import OutboundURLRefused

_BODY_SHOWN = 300
# A 202 with this ``status`` defers the result: the runtime posts it later.
ACCEPTED = "accepted"


def run(
    request: AgentRequest,
    *,
    url: str,
    secret: str,
    timeout: float,
    guarded: bool,
    abandoned: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
    max_response_bytes: int | None = None,
) -> AgentResult | ResultDeferred:
    if not secret:
        raise RunnerError(
            "AGENT_RUNTIME_SIGNING_SECRET is not set: the http runner signs requests."
        )
    body = json.dumps(request.as_json(), separators=(",", ":"), default=str)
    message_id = f"{request.execution_id}.{request.attempt}"
    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "agent-triggers",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(
            Webhook(each).sign(message_id, now, body) for each in signing_secrets(secret)
        ),
    }
    try:
        response = send(
            "POST",
            url,
            content=body,
            headers=headers,
            timeout=timeout,
            guarded=guarded,
            abandoned=abandoned,
            poll_seconds=poll_seconds,
            max_response_bytes=max_response_bytes,
        )
    except OutboundURLRefused as refused:
        raise RunnerError(str(refused)) from None
    except ResponseTooLarge as too_large:
        raise UnrunnableError(
            f"The agent runtime's answer is larger than {too_large.limit} bytes "
            "(EXECUTION_OUTPUT_MAX_BYTES)."
        ) from None
    except httpx.TimeoutException:
        raise RunnerError(f"The agent runtime did not answer within {timeout:g} s.") from None
    except httpx.HTTPError as error:
        raise RunnerError(f"The agent runtime could not be reached: {error}") from None
    if not response.is_success:
        raise RunnerError(
            f"The agent runtime answered {response.status_code}: {response.text[:_BODY_SHOWN]}"
        )
    try:
        reply = response.json()
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise RunnerError(
            f"The agent runtime's answer is not a JSON object: {response.text[:_BODY_SHOWN]}"
        )
    if response.status_code == 202 and reply.get("status") == ACCEPTED:
        return ResultDeferred()
    return AgentResult(
        output_data=reply.get("output", reply),
        tokens_used=_count(reply.get("tokens_used")),
        tools_executed=reply.get("tools_executed"),
        conversation_id=str(reply.get("conversation_id") or ""),
    )


def _count(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None
