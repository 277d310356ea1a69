"""The ``openai`` runner: one OpenAI-compatible chat-completions call.

``POST {OPENAI_BASE_URL}/chat/completions`` with ``model`` (the trigger's agent model, else
OPENAI_DEFAULT_MODEL), a system message (the trigger's, when set) and a user message: the
rendered task prompt, followed by the execution's input as JSON when there is one.
``usage.total_tokens`` becomes ``tokens_used``; ``output_data`` is
``{"content", "finish_reason", "model"}``. The provider's error message surfaces as the
attempt's error. The whole exchange has AGENT_RUNTIME_TIMEOUT_SECONDS, and a cancelled
execution's request is interrupted (exchange.py).
"""

import json
from collections.abc import Callable

import httpx

from executions.runners.base import AgentRequest, AgentResult, RunnerError, UnrunnableError
from executions.runners.exchange import ResponseTooLarge, send


def chat_messages(request: AgentRequest) -> list[dict[str, str]]:
    messages = []
    if request.system_message:
        messages.append({"role": "system", "content": request.system_message})
    content = request.task_prompt or "Run."
    if request.input not in (None, {}, []):
        content += "\n\nInput:\n" + json.dumps(request.input, ensure_ascii=False, default=str)
    messages.append({"role": "user", "content": content})
    return messages


def run(
    request: AgentRequest,
    *,
    base_url: str,
    api_key: str,
    default_model: str,
    timeout: float,
    abandoned: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
    max_response_bytes: int | None = None,
) -> AgentResult:
    model = request.agent_model or default_model
    if not model:
        raise RunnerError("No model: set the trigger's agent model or OPENAI_DEFAULT_MODEL.")
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = send(
            "POST",
            f"{base_url.rstrip('/')}/chat/completions",
            json={"model": model, "messages": chat_messages(request)},
            headers=headers,
            timeout=timeout,
            guarded=False,  # OPENAI_BASE_URL is the operator's
            abandoned=abandoned,
            poll_seconds=poll_seconds,
            max_response_bytes=max_response_bytes,
        )
    except ResponseTooLarge as too_large:
        raise UnrunnableError(
            f"The model provider's answer is larger than {too_large.limit} bytes "
            "(EXECUTION_OUTPUT_MAX_BYTES)."
        ) from None
    except httpx.TimeoutException:
        raise RunnerError(f"The model provider did not answer within {timeout:g} s.") from None
    except httpx.HTTPError as error:
        raise RunnerError(f"The model provider could not be reached: {error}") from None
    try:
        reply = response.json()
    except ValueError:
        reply = {}
    if not response.is_success:
        error = reply.get("error") if isinstance(reply, dict) else None
        message = error.get("message") if isinstance(error, dict) else response.text[:300]
        raise RunnerError(f"The model provider answered {response.status_code}: {message}")
    try:
        choice = reply["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise RunnerError("The model provider's answer has no choices[0].message.") from None
    usage = reply.get("usage") or {}
    tokens = usage.get("total_tokens")
    return AgentResult(
        output_data={
            "content": content,
            "finish_reason": choice.get("finish_reason"),
            "model": reply.get("model", model),
        },
        tokens_used=tokens if isinstance(tokens, int) else None,
    )
