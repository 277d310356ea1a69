"""The Celery app for bench/worker.py's workers: the service's own (config.celery), plus a
no-op task, the baseline a run message is measured against. Never used by the service."""

from config.celery import app


@app.task(name="bench.noop", acks_late=True)
def noop(_execution_id: str) -> None:
    return None
