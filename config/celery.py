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
