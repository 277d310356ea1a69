"""Reactions to the engine's events: on every Beat tick, the due polls are claimed."""

import logging

from django.dispatch import receiver

from executions import heartbeats
from executions.signals import beat_tick
from polling import claims

logger = logging.getLogger(__name__)

# Beat wakes at most this often for polls (a poll may start this much after it was due);
# waking at each poll's exact time would keep Beat busy with 10,000 triggers.
TICK_SECONDS = 0.25


@receiver(beat_tick)
def _claim_due_polls(sender, **kwargs) -> float | None:
    claimed = claims.claim_due_polls()
    # The poller's heartbeat for the ops dashboard (at most one write a second).
    heartbeats.heartbeat("poller", {"claimed": len(claimed)})
    if claimed:
        logger.debug("Poller: %d polls handed to workers", len(claimed))
    until_next = claims.seconds_until_next_poll()
    return None if until_next is None else max(TICK_SECONDS, until_next)
