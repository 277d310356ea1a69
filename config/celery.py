"""The Celery app: workers run executions, Beat drives the cron scheduler and the sweeper.

Start a worker with ``celery -A config worker`` and the scheduler with
``celery -A config beat -S executions.beat:TriggerBeatScheduler`` (bin/run does both).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("triggers")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every worker that reads the control queue watches Beat's heartbeat (alerts/worker.py).
from alerts.worker import SchedulerWatch  # noqa: E402 - after the app it is added to

app.steps["worker"].add(SchedulerWatch)
