"""Choosing the runner for an execution: the agent's own choice, else EXECUTION_RUNNER."""

from collections.abc import Callable

from django.conf import settings

from executions.policies import INSTANT_RUNNERS
from executions.runners import dry_run, http, openai
from executions.runners.base import (
    AgentResult,
    ResultDeferred,
    build_agent_request,
    checked_result,
)

RUNNER_NAMES = ("dry_run", "http", "openai")


def runner_name_for(execution) -> str:
    agent = execution.trigger.agent
    if agent is not None and agent.runner:
        return agent.runner
    return settings.EXECUTION_RUNNER


def signing_secret_for(agent) -> str:
    """The Standard Webhooks secret of ``agent``'s runtime (None: the default runtime's): it
    signs the run requests and verifies what the runtime posts back (an asynchronous result,
    a heartbeat). Today one secret, AGENT_RUNTIME_SIGNING_SECRET, for every agent."""
    return settings.AGENT_RUNTIME_SIGNING_SECRET


def run_agent(
    execution,
    *,
    abandoned: Callable[[], bool] | None = None,
    before_wait: Callable[[], None] | None = None,
) -> AgentResult | ResultDeferred:
    """Run ``execution`` through its runner. ``abandoned``: asked while a runner waits for its
    answer; when it returns true the request is interrupted (AttemptAbandoned).
    ``before_wait``: called once the request is built, before a runner that waits on its
    agent sends it (the worker gives its database connection back there)."""
    request = build_agent_request(execution)
    max_bytes = settings.EXECUTION_OUTPUT_MAX_BYTES
    if before_wait is not None and runner_name_for(execution) not in INSTANT_RUNNERS:
        before_wait()
    result = _run(execution, request, abandoned, max_bytes)
    if isinstance(result, ResultDeferred):  # the http runtime posts its result later
        return result
    return checked_result(result, max_bytes=max_bytes)


def _run(execution, request, abandoned, max_bytes: int) -> AgentResult | ResultDeferred:
    interrupt = {
        "abandoned": abandoned,
        # A flag read (executions/services/attempt_watch.py), so asked often.
        "poll_seconds": settings.EXECUTION_CANCEL_CHECK_SECONDS / 2,
        "max_response_bytes": max_bytes,
    }
    name = runner_name_for(execution)
    if name == "http":
        agent = execution.trigger.agent
        own_url = agent.runtime_url if agent is not None else ""
        return http.run(
            request,
            url=own_url or settings.AGENT_RUNTIME_URL,
            secret=signing_secret_for(agent),
            timeout=settings.AGENT_RUNTIME_TIMEOUT_SECONDS,
            guarded=bool(own_url),  # a tenant's URL is guarded; the operator's is trusted
            **interrupt,
        )
    if name == "openai":
        return openai.run(
            request,
            base_url=settings.OPENAI_BASE_URL,
            api_key=settings.OPENAI_API_KEY,
            default_model=settings.OPENAI_DEFAULT_MODEL,
            timeout=settings.AGENT_RUNTIME_TIMEOUT_SECONDS,
            **interrupt,
        )
    return dry_run.run(request)
