"""Sending a runner's HTTP request so that cancelling the execution interrupts it.

An agent run can take minutes. When its execution is cancelled meanwhile (the API's or the
admin's cancel) or taken back by the sweeper, waiting for the answer would hold the worker
slot for nothing and let the agent work on, spending tokens, for a result that is then
thrown away. So the request runs on httpx's async client, in a thread with its own event
loop, while the worker's thread asks ``abandoned()`` every ``poll_seconds`` (one indexed
query on the execution's row). When it says yes, the request's task is cancelled: httpx
closes the connection, which is how an HTTP server learns that its client has gone, and
AttemptAbandoned is raised. The database is only touched from the worker's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import httpx


class AttemptAbandoned(Exception):
    """The execution stopped wanting this attempt's result while the request was in flight."""


class ResponseTooLarge(Exception):
    """The answer's body is longer than the caller allows; the rest was not read."""

    def __init__(self, limit: int):
        super().__init__(f"The answer is larger than {limit} bytes.")
        self.limit = limit


def send_interruptible(
    build: Callable[[httpx.AsyncClient], httpx.Request],
    *,
    timeout: float,
    abandoned: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
    max_response_bytes: int | None = None,
) -> httpx.Response:
    """Send ``build(client)`` and return the response (read in full, up to
    ``max_response_bytes`` once decoded: ResponseTooLarge beyond); httpx's exceptions as
    they are. With ``abandoned``, AttemptAbandoned once it returns true (see module)."""

    async def exchange() -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.send(build(client), stream=True)
            try:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if max_response_bytes is not None and size > max_response_bytes:
                        raise ResponseTooLarge(max_response_bytes)
                    chunks.append(chunk)
                # What Response.aread() does, with the bound above; .json() and .text read it.
                response._content = b"".join(chunks)
            finally:
                await response.aclose()
            return response

    if abandoned is None:
        return asyncio.run(exchange())
    loop = asyncio.new_event_loop()
    task = loop.create_task(exchange())
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["response"] = loop.run_until_complete(task)
        except BaseException as error:  # handed to the worker's thread below
            outcome["error"] = error
        finally:
            loop.close()

    thread = threading.Thread(target=drive, name="runner-request", daemon=True)
    thread.start()
    while True:
        thread.join(poll_seconds)
        if not thread.is_alive():
            break
        if abandoned():
            with contextlib.suppress(RuntimeError):  # closed: the answer came in just now
                loop.call_soon_threadsafe(task.cancel)
            thread.join()
            raise AttemptAbandoned
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]
