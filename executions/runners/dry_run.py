"""The default runner when no agent runtime is configured: it runs nothing.

It completes with the exact request another runner would have sent, so a fresh install
works end to end and shows what the agent would get.
"""

from executions.runners.base import AgentRequest, AgentResult


def run(request: AgentRequest) -> AgentResult:
    return AgentResult(output_data={"dry_run": True, "request": request.as_json()}, tokens_used=0)
