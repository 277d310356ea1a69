"""The Beat scheduler: django-celery-beat's, plus the trigger scheduler on every tick.

Celery Beat calls ``tick()`` in a loop and sleeps for what it returns. Here each tick
first fires the due triggers (executions.scheduler) and then lets django-celery-beat
send its periodic tasks (the sweeper); the sleep ends at the earliest trigger's next
slot, so a slot fires within milliseconds of its time rather than at the next poll.
Triggers are rows with an indexed ``next_fire_at``, not PeriodicTasks, so 100,000 of
them cost one index scan per tick. Running two Beats is safe (see executions.scheduler).
Apps above the engine do their own due work on the same tick through the ``beat_tick``
signal (the poller: polling/receivers.py), without the engine importing them.
"""

import logging

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from executions import heartbeats, scheduler
from executions.signals import beat_tick

logger = logging.getLogger(__name__)


class TriggerBeatScheduler(DatabaseScheduler):
    # What the heartbeat tells about the last pass that fired something (executions/heartbeats.py).
    last_firing: dict = {}

    def tick(self, *args, **kwargs) -> float:
        close_old_connections()
        max_sleep = float(settings.SCHEDULER_MAX_SLEEP_SECONDS)
        try:
            report = scheduler.fire_due_triggers()
            if report.resumed:
                logger.info("Scheduler: %d paused triggers resumed", report.resumed)
            if report.triggers:
                logger.info(
                    "Scheduler: %d triggers, %d executions enqueued, %d not run",
                    report.triggers,
                    report.fired,
                    report.not_run,
                )
                self.last_firing = {
                    "last_firing_at": timezone.now().isoformat(),
                    "triggers": report.triggers,
                    "fired": report.fired,
                    "not_run": report.not_run,
                    "slot_lag_seconds": round(report.slot_lag_seconds, 3),
                }
            heartbeats.heartbeat(
                heartbeats.SCHEDULER, self.last_firing, force=bool(report.triggers)
            )
            until_next = scheduler.seconds_until_next_due()
        except Exception:  # the database is away: keep Beat alive and try again soon
            logger.exception("Scheduler pass failed")
            until_next = 1.0
        interval = super().tick(*args, **kwargs)
        candidates = [max_sleep, interval if interval is not None else max_sleep]
        if until_next is not None:
            candidates.append(until_next)
        for receiver, answer in beat_tick.send_robust(sender=type(self)):
            if isinstance(answer, Exception):  # e.g. the database is away: soon again
                logger.error("Beat tick receiver %r failed: %r", receiver, answer)
                candidates.append(1.0)
            elif answer is not None:
                candidates.append(answer)
        return max(0.0, min(candidates))
