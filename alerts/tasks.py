"""Celery tasks: thin wrappers over alerts.services."""

from celery import shared_task

from alerts import services


@shared_task(name="alerts.tasks.detect_alerts")
def detect_alerts(trigger_ids: list[int] | None = None, events: list[str] | None = None) -> dict:
    """The detection pass (Beat, every ALERTS_CHECK_INTERVAL_SECONDS, on the control queue);
    with ``trigger_ids``, a status change's own pass over those triggers (receivers.py);
    with ``events``, only those (the workers' scheduler watch: worker.py)."""
    report = services.alerts_detect(trigger_ids=trigger_ids, events=events)
    return {"opened": len(report.opened), "closed": len(report.closed), "resent": report.resent}


@shared_task(name=services.SEND_NOTIFICATION_TASK, bind=True, max_retries=None)
def send_notification(self, notification_id: int) -> None:
    """Send one notification (ALERTS_QUEUE); again after the service's backoff if it failed
    and has retries left (ALERTS_SEND_MAX_RETRIES)."""
    delay = services.notification_deliver(notification_id=notification_id)
    if delay is not None:
        raise self.retry(countdown=delay)
