"""An agent runtime's asynchronous answer to an attempt it accepted: its result, or a
heartbeat (docs/runners.md, "Asynchronous results").

There is no user: the Standard Webhooks signature, with the secret the run request was
signed with, is the authentication, and it is checked before anything about the execution is
told (an unsigned post learns nothing, not even whether the execution exists). The signed
``webhook-id`` (``<execution_id>.<attempt>.result`` or ``.heartbeat``) names the attempt;
only that attempt, still running, takes the message. A result is stored by lifecycle's own
completion and failure paths — one conditional UPDATE from this very attempt running — so a
second result, a result after a cancel or after the sweeper took the attempt back changes
nothing (409), and a completion counts on its trigger and frees its place exactly as a
synchronous one does.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings

from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.runners import UnrunnableError
from executions.runners.callbacks import (
    HEARTBEAT,
    RESULT,
    MalformedCallback,
    NotAwaited,
    RuntimeFailure,
    UnknownExecution,
    check_declared_size,
    parsed_result,
    verified_attempt,
)
from executions.runners.registry import signing_secret_for
from executions.services import lifecycle


@dataclass(frozen=True)
class Received:
    """What a result did: the execution as it left it, and — when the answer could not be
    stored, so the execution failed — the reason (the runtime is told, 422)."""

    execution: Execution
    unstorable: str = ""


def execution_result_receive(
    *,
    execution_id: str,
    headers: Mapping[str, str],
    content_length: str | None,
    transfer_encoding: str | None,
    read: Callable[[], bytes],
) -> Received:
    """Complete the named attempt with the posted result, or fail it with the posted
    ``error`` (retried under the trigger's retry policy, as any failed attempt).

    Raises CallbackRefused (executions/runners/callbacks.py) and changes nothing when the
    post is unsigned, malformed, for an unknown execution or for an attempt that awaits no
    result any more."""
    max_bytes = settings.EXECUTION_OUTPUT_MAX_BYTES
    check_declared_size(content_length, transfer_encoding, max_bytes=max_bytes)
    body = read()
    execution = _awaiting_attempt(execution_id, body, headers, kind=RESULT)
    try:
        outcome = parsed_result(body, max_bytes=max_bytes)
    except UnrunnableError as unstorable:  # failed at once, as a synchronous answer would
        failed = lifecycle.execution_attempt_failed(
            execution=execution, error_message=str(unstorable), retry=False
        )
        return Received(failed or _ended(execution), unstorable=str(unstorable))
    if isinstance(outcome, RuntimeFailure):
        after = lifecycle.execution_attempt_failed(
            execution=execution, error_message=outcome.message
        )
    else:
        after = lifecycle.execution_complete(
            execution=execution,
            output_data=outcome.output_data,
            tokens_used=outcome.tokens_used,
            tools_executed=outcome.tools_executed,
            conversation_id=outcome.conversation_id,
        )
    return Received(after or _ended(execution))


def execution_heartbeat_receive(
    *,
    execution_id: str,
    headers: Mapping[str, str],
    content_length: str | None,
    transfer_encoding: str | None,
    read: Callable[[], bytes],
) -> Execution:
    """The named attempt's runtime is still at work: the sweeper's timeout
    (EXECUTION_TIMEOUT_SECONDS) counts from now. Raises CallbackRefused as a result does."""
    check_declared_size(
        content_length, transfer_encoding, max_bytes=settings.EXECUTION_OUTPUT_MAX_BYTES
    )
    execution = _awaiting_attempt(execution_id, read(), headers, kind=HEARTBEAT)
    if not lifecycle.execution_heartbeat(execution=execution):
        _ended(execution)
    return execution


def timeout_seconds() -> int:
    """How long an attempt awaiting its result may go without a heartbeat."""
    return settings.EXECUTION_TIMEOUT_SECONDS


def _awaiting_attempt(
    execution_id: str, body: bytes, headers: Mapping[str, str], *, kind: str
) -> Execution:
    """The execution the signed post (a ``kind``) is about, running the attempt it names."""
    execution = _execution(execution_id)
    secret = signing_secret_for(execution.trigger.agent if execution is not None else None)
    named_id, attempt = verified_attempt(body, headers, secret=secret, kind=kind)
    if _uuid(named_id) is None or _uuid(named_id) != _uuid(execution_id):
        raise MalformedCallback(
            f"webhook-id names another execution: it must be <execution_id>.<attempt>.{kind} "
            "for the execution in the path.",
            code="invalid_message_id",
        )
    if execution is None:
        raise UnknownExecution("No such execution.")
    current = execution.retry_count + 1
    if attempt != current:
        raise NotAwaited(
            f"This is not the execution's current attempt: it is on attempt {current} "
            f"({execution.status}), not {attempt}.",
            code="attempt_over",
        )
    if execution.status != ExecutionStatus.RUNNING:
        raise NotAwaited(f"The execution is {execution.status}: it awaits no result.")
    return execution


def _ended(execution: Execution):
    """The attempt ended between the read and the write (a cancel, the sweeper, another
    result): refused, naming the state it is in now."""
    execution.refresh_from_db()
    raise NotAwaited(f"The execution is {execution.status}: it awaits no result.")


def _execution(execution_id: str) -> Execution | None:
    key = _uuid(execution_id)
    if key is None:
        return None
    return (
        Execution.objects.select_related("trigger", "trigger__agent")
        .filter(execution_id=key)
        .first()
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
