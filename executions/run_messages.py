"""Run messages: the Celery task messages that hand an execution to a worker, as bytes.

Celery's own publishing (``apply_async``) costs about 0.25 ms of CPU per message — more than
the webhook pipeline and the execution INSERT together — because it re-reads its settings,
routes, and builds the message anew for every call. Every run message is the same task with
one argument (an execution id, or a list of them: a batch), so the message is built once per
process, by Celery itself (``app.amqp.create_task_message``), and each message only fills in
what differs: the task id, its argument, the ETA and kombu's delivery tag. ``encode`` then
costs ~15 µs.

The envelope is what kombu's virtual transports (Redis among them) store for a message.
tests/executions/test_run_messages.py publishes one execution both ways and asserts the two
messages in Redis are the same apart from those per-message ids, so a Celery or kombu
upgrade that changes the format fails a test instead of confusing the workers.

What the shortcut leaves out, on purpose: Celery's ``before/after_task_publish`` signals
(nothing here listens), and the parent/root ids Celery copies from a task that publishes
from inside a worker (run messages never form chains, so each is its own root).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class RunMessageFormat:
    """One task's message, with the per-message fields left to ``encode``."""

    headers: dict[str, Any]
    properties: dict[str, Any]
    embed: dict[str, Any]
    queue: str
    pid: int  # the process it was made in: ``origin`` names the publishing process

    @classmethod
    def from_celery(cls, app, task_name: str, queue: str | None = None) -> RunMessageFormat:
        """The format of the task ``task_name``'s messages on ``app``'s default queue, as
        Celery builds it (with the app's ``task_ignore_result``, as the task has no own).
        Unlike ``apply_async`` it names no time limits: the worker applies its own
        (CELERY_TASK_ANNOTATIONS), which know the deadline of the runner it runs."""
        message = app.amqp.create_task_message(
            _PLACEHOLDER,
            task_name,
            (_PLACEHOLDER,),
            {},
            reply_to=app.thread_oid,
            create_sent_event=False,
            ignore_result=app.conf.task_ignore_result,
        )
        _args, _kwargs, embed = message.body
        queue = queue or app.conf.task_default_queue
        return cls(
            headers=dict(message.headers),
            properties={
                **message.properties,
                "delivery_mode": 2,  # persistent, kombu's default
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
            },
            embed=embed,
            queue=queue,
            pid=os.getpid(),
        )

    def encode(self, argument: str | list[str], *, eta: datetime | None = None) -> str:
        """The message that runs ``argument`` — an execution id, or a batch of them — (not
        before ``eta``), as kombu stores it."""
        task_id = str(uuid.uuid4())
        body = json.dumps([[argument], {}, self.embed]).encode()
        return json.dumps(
            {
                "body": base64.b64encode(body).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {
                    **self.headers,
                    "id": task_id,
                    "root_id": task_id,
                    "eta": eta.isoformat() if eta is not None else None,
                    "argsrepr": repr((argument,)),
                },
                "properties": {
                    **self.properties,
                    "correlation_id": task_id,
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
        )
