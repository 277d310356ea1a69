"""The workers' watch on the scheduler: Beat cannot report its own death.

The detection pass runs on Beat's schedule, so a Beat that is gone would never say it is
gone. Every Celery worker that reads the control queue (bin/run's control worker) therefore
keeps a timer of its own: every ALERTS_CHECK_INTERVAL_SECONDS it publishes a detection pass
of ``scheduler_lost`` alone (a message to the control queue; the pass reads one heartbeat
row). Two such workers make two passes, which the unique open episode makes harmless.
"""

import logging

from celery import bootsteps
from django.conf import settings

from alerts.choices import AlertEvent

logger = logging.getLogger(__name__)

DETECT_TASK = "alerts.tasks.detect_alerts"


class SchedulerWatch(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker) -> None:
        queues = set(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        if settings.CELERY_CONTROL_QUEUE not in queues:
            return
        self.timer_entry = worker.timer.call_repeatedly(
            settings.ALERTS_CHECK_INTERVAL_SECONDS, self.publish, (worker.app,), priority=10
        )

    def publish(self, app) -> None:
        try:
            app.send_task(
                DETECT_TASK,
                kwargs={"events": [AlertEvent.SCHEDULER_LOST.value]},
                queue=settings.CELERY_CONTROL_QUEUE,
            )
        except Exception:  # the broker is away: the next tick tries again
            logger.warning("Could not publish the scheduler watch's pass")

    def stop(self, worker) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
