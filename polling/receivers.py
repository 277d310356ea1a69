"""Reactions to the engine's and the triggers' events: on every Beat tick, the due polls are
claimed; with every write of a trigger, its polling state is kept (polling.services.state)."""

import logging

from django.dispatch import receiver

from executions import heartbeats
from executions.signals import beat_tick
from polling import claims
from polling.services import state
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from triggers.signals import trigger_saved, triggers_status_changed

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


@receiver(trigger_saved, sender=Trigger)
def _keep_polling_state(sender, trigger, created, before, **kwargs) -> None:
    state.polling_state_keep(trigger=trigger, before=before)


@receiver(triggers_status_changed, sender=Trigger)
def _disarm_polls(sender, trigger_ids, status, **kwargs) -> None:
    if status != TriggerStatus.ACTIVE:
        state.polling_states_disarm(trigger_ids=trigger_ids)
