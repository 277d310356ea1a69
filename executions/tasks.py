"""Celery tasks: thin wrappers; the work is in executions.services and .scheduler."""

from celery import shared_task

from executions import scheduler, services


@shared_task(name="executions.tasks.run_execution", acks_late=True)
def run_execution(execution_id: str) -> str | None:
    execution = services.execution_run(execution_id=execution_id)
    return execution.status if execution else None


@shared_task(name="executions.tasks.sweep_executions")
def sweep_executions() -> dict:
    report = services.executions_sweep()
    return {"requeued": report.requeued, "timed_out": report.timed_out}


@shared_task(name="executions.tasks.fire_due_triggers")
def fire_due_triggers() -> int:
    """One scheduler pass as a task, for deployments that drive it from their own Beat."""
    return scheduler.fire_due_triggers().fired
