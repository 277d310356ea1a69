"""Publishing run messages: one LPUSH per batch on Redis, Celery's own publishing elsewhere.

On a Redis broker (production) the messages are built by executions/run_messages.py and
pushed with a single LPUSH for the whole batch, through one redis-py client per process:
a webhook's publish costs ~45 µs of CPU instead of ~270 µs through ``apply_async``, and a
scheduler batch of 200 firings is one round trip. Workers consume them with Celery as
usual (kombu's Redis transport pops the queue's list from the other end, so the order is
first in, first out). Other brokers (the embedded filesystem one) go through Celery.

Errors are raised: the caller (executions.dispatch) logs them and leaves the executions
pending for the sweeper. The client gives up after one immediate retry and
``CELERY_BROKER_CONNECTION_TIMEOUT`` seconds, so a broker that is down never hangs a request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from functools import lru_cache

import redis
from celery import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from executions.run_messages import RunMessageFormat

# The task that runs an execution (executions/tasks.py registers it under this name). Named,
# not imported: the tasks call the services, which publish through this module.
RUN_EXECUTION_TASK = "executions.tasks.run_execution"
_REDIS_SCHEMES = ("redis://", "rediss://")
_formats: dict[str, RunMessageFormat] = {}


def publish_run_messages(
    arguments: Sequence[str | list[str]],
    *,
    queue: str | None = None,
    eta: datetime | None = None,
) -> None:
    """Publish one run message per argument — an execution id, or a list of them (a batch)
    — in order, to ``queue`` (default: the run queue); raises when the broker fails."""
    app = current_app
    queue = queue or app.conf.task_default_queue
    url = app.conf.broker_url or ""
    if url.startswith(_REDIS_SCHEMES):
        message_format = _run_message_format(app, queue)
        messages = [message_format.encode(argument, eta=eta) for argument in arguments]
        _redis_client(url, app.conf.broker_connection_timeout).lpush(
            message_format.queue, *messages
        )
        return
    with app.producer_or_acquire() as producer:
        batch = getattr(producer, "batch", None)
        with batch() if batch is not None and len(arguments) > 1 else nullcontext():
            for argument in arguments:
                # No time limits in the message (the Redis path has none either): the
                # worker's own EXECUTION_TASK_TIME_LIMIT_SECONDS applies, not the publisher's.
                app.send_task(
                    RUN_EXECUTION_TASK, (argument,), eta=eta, producer=producer, queue=queue,
                    time_limit=None, soft_time_limit=None,
                )  # fmt: skip


def _run_message_format(app, queue: str) -> RunMessageFormat:
    """This process's message format for ``queue`` (rebuilt after a fork)."""
    found = _formats.get(queue)
    if found is None or found.pid != os.getpid():
        found = _formats[queue] = RunMessageFormat.from_celery(app, RUN_EXECUTION_TASK, queue)
    return found


@lru_cache(maxsize=8)
def _redis_client(url: str, timeout: float) -> redis.Redis:
    # redis-py's pool notices a fork and opens new connections in the child.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


def run_queue_length(queue: str | None = None) -> int | None:
    """How many run messages wait in ``queue`` (default: the run queue); None when the
    broker cannot tell cheaply (not Redis) or is unreachable."""
    app = current_app
    url = app.conf.broker_url or ""
    if not url.startswith(_REDIS_SCHEMES):
        return None
    try:
        return _redis_client(url, app.conf.broker_connection_timeout).llen(
            queue or app.conf.task_default_queue
        )
    except redis.RedisError:
        return None
