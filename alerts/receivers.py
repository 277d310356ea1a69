"""A trigger's status change is looked at at once, not at the next detection pass: a freeze
(``triggers_status_changed``, sent in the engine's transaction) or an unfreeze, a disable or
a stale folder (``trigger_saved``, ``triggers_status_changed``) publishes, after the commit,
a detection pass over those triggers on the control queue. Nothing is written here and
nothing waits in the engine: one message per change, published after its transaction."""

import logging
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from triggers.models import Trigger
from triggers.signals import trigger_saved, triggers_status_changed

logger = logging.getLogger(__name__)

DETECT_TASK = "alerts.tasks.detect_alerts"


def _detect_after_commit(trigger_ids: list[int]) -> None:
    if trigger_ids:
        transaction.on_commit(partial(_publish, list(trigger_ids)), robust=True)


def _publish(trigger_ids: list[int]) -> None:
    try:
        current_app.send_task(
            DETECT_TASK, kwargs={"trigger_ids": trigger_ids}, queue=settings.CELERY_CONTROL_QUEUE
        )
    except Exception:  # the periodic pass sees the change anyway
        logger.warning("Could not publish an alerts pass for triggers %s", trigger_ids)


@receiver(triggers_status_changed, sender=Trigger)
def _status_changed(sender, trigger_ids, status, **kwargs) -> None:
    _detect_after_commit(trigger_ids)


@receiver(trigger_saved, sender=Trigger)
def _saved(sender, trigger, created, before, **kwargs) -> None:
    if before is not None and before.status != trigger.status:
        _detect_after_commit([trigger.pk])
