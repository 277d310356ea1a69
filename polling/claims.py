"""Beat's part of polling: claim the due polls and hand them to workers (docs/polling.md).

Polling triggers are rows with an indexed ``PollingState.next_poll_at`` (set only while the
trigger is active), as cron triggers are with ``next_fire_at`` (executions/scheduler.py), not
one periodic task each. On every Beat tick (the ``beat_tick`` signal: polling/receivers.py) the
due ones are claimed in batches of ``SCHEDULER_BATCH_SIZE``, each batch in one transaction:
``SELECT … FOR UPDATE SKIP LOCKED`` — a second Beat skips the rows this one holds and takes
others — then each claimed trigger's ``next_poll_at`` moves to its next poll
(rules.next_poll_after_claim), which is also the claimed poll's lease (both written by
polling.services.state). After the commit the
polls go to ``POLLING_QUEUE``, ``POLLING_POLLS_PER_TASK`` to a task (a worker fetches a
task's sources at the same time); the polls themselves run on workers, never in Beat. A
message lost (broker down, worker killed before it acked) costs those polls: each trigger
polls again at its next poll, from a cursor that has not moved.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from polling.models import PollingState
from polling.services import state

logger = logging.getLogger(__name__)

# The poll task (polling/tasks.py registers it under this name). Named, not imported: the
# tasks are the entry points above this module.
POLL_TASK = "polling.tasks.poll_triggers"


def claim_due_polls(
    *, now: datetime | None = None, batch_size: int | None = None
) -> list[tuple[int, datetime]]:
    """Claim every poll due at ``now`` (default: the current time), batch by batch, and
    publish their tasks as each batch commits; (trigger id, when it was due) per poll."""
    batch_size = batch_size or settings.SCHEDULER_BATCH_SIZE
    claimed: list[tuple[int, datetime]] = []
    while True:
        batch = _claim_batch(now or timezone.now(), batch_size)
        claimed.extend(batch)
        if len(batch) < batch_size:
            return claimed


def seconds_until_next_poll(*, now: datetime | None = None) -> float | None:
    """How long until the earliest active trigger's next poll; None when none is armed."""
    earliest = PollingState.objects.filter(next_poll_at__isnull=False).aggregate(
        earliest=Min("next_poll_at")
    )["earliest"]
    if earliest is None:
        return None
    return max(0.0, (earliest - (now or timezone.now())).total_seconds())


def _claim_batch(now: datetime, batch_size: int) -> list[tuple[int, datetime]]:
    with transaction.atomic():
        claimed = state.polling_states_claim_due(
            now=now,
            batch_size=batch_size,
            minimum_interval=settings.POLLING_MIN_INTERVAL_SECONDS,
        )
        if claimed:
            transaction.on_commit(lambda: publish_polls(claimed))
    return claimed


def publish_polls(claimed: list[tuple[int, datetime]]) -> int:
    """The (trigger id, due time) polls as poll tasks on POLLING_QUEUE, at most
    POLLING_POLLS_PER_TASK each; how many polls were sent. A broker that is down is logged:
    those polls happen at their triggers' next poll."""
    app = current_app
    size = settings.POLLING_POLLS_PER_TASK
    try:
        with app.producer_or_acquire() as producer:
            for start in range(0, len(claimed), size):
                polls = [[pk, due_at.isoformat()] for pk, due_at in claimed[start : start + size]]
                app.send_task(POLL_TASK, (polls,), queue=settings.POLLING_QUEUE, producer=producer)
    except Exception:  # the broker's error types depend on the transport
        logger.warning(
            "Broker unavailable: %d polls wait for their next time", len(claimed), exc_info=True
        )
        return 0
    return len(claimed)
