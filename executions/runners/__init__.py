"""Runners: how an execution reaches its agent (docs/runners.md).

``run_agent(execution)`` builds the request the agent gets and hands it to the runner
chosen for the execution; it returns an ``AgentResult`` (checked storable and within
``EXECUTION_OUTPUT_MAX_BYTES``) or raises ``RunnerError`` (the attempt failed; the engine
retries or fails the execution with the message; an ``UnrunnableError`` fails it at once) or
``AttemptAbandoned`` (the execution was cancelled meanwhile: the request was interrupted),
or returns ``ResultDeferred`` (the ``http`` runtime will post its result later).
"""

from executions.runners.base import (
    AgentRequest,
    AgentResult,
    ResultDeferred,
    RunnerError,
    UnrunnableError,
    build_agent_request,
)
from executions.runners.exchange import AttemptAbandoned
from executions.runners.registry import run_agent, runner_name_for

__all__ = [
    "AgentRequest",
    "AgentResult",
    "AttemptAbandoned",
    "ResultDeferred",
    "RunnerError",
    "UnrunnableError",
    "build_agent_request",
    "run_agent",
    "runner_name_for",
]
