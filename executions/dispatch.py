"""Handing executions to the workers: the one path every firing takes to the broker.

An execution row is always committed before its message is published (``on_commit``),
so a worker never looks for a row that is not there yet, and a rolled-back firing sends
nothing. Publishing may fail (the broker is down): that is logged, not raised, because
the row is already safe; the sweeper publishes it again later (docs/scheduling.md).
"""

import logging
import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(execution_ids: Iterable[uuid.UUID], *, eta: datetime | None = None) -> None:
    ids = list(execution_ids)
    if ids:
        transaction.on_commit(lambda: enqueue(ids, eta=eta))


def enqueue(execution_ids: Iterable[uuid.UUID], *, eta: datetime | None = None) -> int:
    """Publish one run message per execution; returns how many were published.

    Several messages go out in one batch where the transport supports it (kombu 5.6+ on
    Redis pipelines them into one round trip); a failed batch publishes none of the rest.
    """
    from executions.tasks import run_execution  # the tasks module imports the services

    ids = [str(execution_id) for execution_id in execution_ids]
    published = 0
    try:
        with run_execution.app.producer_or_acquire() as producer:
            batch = getattr(producer, "batch", None)
            with batch() if batch is not None and len(ids) > 1 else nullcontext():
                for execution_id in ids:
                    run_execution.apply_async((execution_id,), eta=eta, producer=producer)
            published = len(ids)
    except Exception:  # the broker's error types depend on the transport
        logger.warning(
            "Broker unavailable: %d executions left pending for the sweeper",
            len(ids),
            exc_info=True,
        )
    return published
