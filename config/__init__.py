# The service's own deploy checks (manage.py check --deploy) register on import.
from config import checks  # noqa: F401

# Importing the Celery app here makes @shared_task bind to it in every process.
from config.celery import app as celery_app

__all__ = ["celery_app"]
