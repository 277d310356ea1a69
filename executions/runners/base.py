"""What every runner shares: the request an agent gets and the result it gives back."""

from dataclasses import asdict, dataclass, field
from typing import Any

from triggers.templating import render_message_template


class RunnerError(Exception):
    """One attempt failed; the message says why (it becomes the execution's error)."""


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
        task_prompt = render_message_template(trigger.task_prompt or "", context)
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
