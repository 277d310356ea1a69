"""Celery tasks: thin wrappers; the work is in polling.services."""

from datetime import datetime

from celery import shared_task

from polling import services
from polling.claims import POLL_TASK


@shared_task(name=POLL_TASK, acks_late=True)
def poll_triggers(polls: list) -> dict:
    """The polls Beat claimed (polling/claims.py): [[trigger id, due time], ...]."""
    due = [(int(pk), datetime.fromisoformat(at) if at else None) for pk, at in polls]
    reports = services.triggers_poll(polls=due)
    return {str(r.trigger_id): r.status for r in reports}
