"""What every runner shares: the request an agent gets and the result it gives back.

Both are bounded: the task prompt is rendered to at most ``RENDERED_TEXT_MAX_BYTES`` (a
template can multiply its input), and a result is stored only when it can be
(``checked_result``: storable JSON of at most ``EXECUTION_OUTPUT_MAX_BYTES``). Either
failing is an ``UnrunnableError``: the execution fails at once with the reason, since
another attempt would fail the same way.
"""

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings

from api import storable
from triggers.templating import TemplateTooLarge, render_message_template

# tokens_used is a PositiveIntegerField: a larger count is not one (PostgreSQL's integer).
_MAX_TOKENS = 2**31 - 1


def signing_secrets(value: str) -> list[str]:
    """The ``whsec_`` secrets a signing-secret setting holds: one, or several separated by
    spaces while the runtime's secret is rotated. A run request carries a signature by each
    (Standard Webhooks' ``webhook-signature`` lists them, space-separated, and a receiver
    accepts the request when one of them verifies with its secret), and what the runtime
    posts back verifies with any of them (docs/runners.md, "Rotating the secret")."""
    return value.split()


class RunnerError(Exception):
    """One attempt failed; the message says why (it becomes the execution's error).

    ``retryable``: whether another attempt may go otherwise (the engine retries with
    backoff while retries remain)."""

    retryable = True


class UnrunnableError(RunnerError):
    """This execution cannot run or its result cannot be kept, whatever the attempt (its
    input makes the prompt too large, the agent's answer is too large or not storable): it
    fails at once, without retries."""

    retryable = False


@dataclass(frozen=True)
class AgentRequest:
    execution_id: str
    execution_type: str
    trigger: dict[str, Any]
    agent: dict[str, Any] | None
    agent_model: str
    listener_type: str
    system_message: str
    task_prompt: str
    input: Any
    scheduled_for: str | None
    attempt: int
    run_as_user_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AgentResult:
    output_data: Any = None
    tokens_used: int | None = None
    tools_executed: list[Any] | None = None
    conversation_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultDeferred:
    """The runtime accepted the request (``202 {"status": "accepted"}``) and will post its
    result later, signed, to ``/api/executions/<execution_id>/result`` (docs/runners.md): the
    attempt goes on without a worker."""


def build_agent_request(execution) -> AgentRequest:
    """The request for ``execution``: the trigger's settings, with the task prompt rendered.

    ``{{ placeholders }}`` in the task prompt are filled from the execution's input
    (``{{ input.x }}``), the slot (``{{ scheduled_for }}``) and the trigger
    (``{{ trigger.name }}``), with the webhook template rules (no code runs).
    """
    trigger = execution.trigger
    agent = trigger.agent
    scheduled_for = execution.scheduled_for.isoformat() if execution.scheduled_for else None
    trigger_data = {
        "id": trigger.pk,
        "uuid": str(trigger.uuid),
        "public_id": trigger.public_id,
        "name": trigger.name,
        "type": f"{trigger.provider_id}/{trigger.provider_trigger_id}",
        "tenant": trigger.tenant_id,
        "project": trigger.project.public_id if trigger.project_id else None,
    }
    context = {
        "input": execution.input_data,
        "scheduled_for": scheduled_for,
        "trigger": trigger_data,
    }
    try:
        task_prompt = render_message_template(
            trigger.task_prompt or "", context, max_bytes=settings.RENDERED_TEXT_MAX_BYTES
        )
    except TemplateTooLarge as too_large:
        raise UnrunnableError(
            f"The task prompt cannot be rendered for this input: {too_large} "
            "(RENDERED_TEXT_MAX_BYTES); the trigger's placeholders multiply the input."
        ) from None
    except ValueError:
        task_prompt = trigger.task_prompt  # saved before templates were checked: send as is
    return AgentRequest(
        execution_id=str(execution.execution_id),
        execution_type=execution.execution_type,
        trigger=trigger_data,
        agent={"id": agent.public_id, "name": agent.name} if agent else None,
        agent_model=trigger.agent_model,
        listener_type=trigger.listener_type,
        system_message=trigger.system_message,
        task_prompt=task_prompt,
        input=execution.input_data,
        scheduled_for=scheduled_for,
        attempt=execution.retry_count + 1,
        run_as_user_ids=trigger.run_as(),
    )


def checked_result(result: AgentResult, *, max_bytes: int) -> AgentResult:
    """``result`` as it can be stored: output and tools storable JSON of at most
    ``max_bytes`` together (UnrunnableError otherwise, naming the problem), the conversation
    id as storable text, a token count PostgreSQL's integer holds (else unknown)."""
    for what, value in (("output", result.output_data), ("tools_executed", result.tools_executed)):
        problem = storable.json_problem(value, max_bytes=max_bytes)
        if problem is not None:
            raise UnrunnableError(
                f"The agent's answer cannot be stored: its {what}: {problem} "
                "(EXECUTION_OUTPUT_MAX_BYTES)."
            )
    tokens = result.tokens_used
    if not isinstance(tokens, int) or isinstance(tokens, bool) or not 0 <= tokens <= _MAX_TOKENS:
        tokens = None
    return replace(
        result,
        tokens_used=tokens,
        conversation_id=storable.storable_text(result.conversation_id or ""),
    )
