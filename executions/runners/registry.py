"""Choosing the runner for an execution."""

from collections.abc import Callable

from executions.runners import dry_run
from executions.runners.base import AgentRequest, AgentResult, build_agent_request

RUNNERS: dict[str, Callable[[AgentRequest], AgentResult]] = {
    "dry_run": dry_run.run,
}


def runner_name_for(execution) -> str:
    return "dry_run"


def run_agent(execution) -> AgentResult:
    return RUNNERS[runner_name_for(execution)](build_agent_request(execution))
