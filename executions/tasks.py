"""Celery tasks: thin wrappers; the work is in executions.services and .scheduler."""

from celery import shared_task

from executions import dispatch, scheduler
from executions.broker import RUN_EXECUTION_TASK
from executions.services import lifecycle, replays, retention, sweeper


@shared_task(name=RUN_EXECUTION_TASK, acks_late=True)
def run_execution(execution_id: str | list[str]) -> str | list | None:
    """A run message: one execution id, or a batch of them (executions/dispatch.py)."""
    if isinstance(execution_id, list):
        finished = lifecycle.executions_run(execution_ids=execution_id)
        return [execution.status if execution else None for execution in finished]
    execution = lifecycle.execution_run(execution_id=execution_id)
    return execution.status if execution else None


@shared_task(name="executions.tasks.sweep_executions")
def sweep_executions() -> dict:
    report = sweeper.executions_sweep()
    return {"requeued": report.requeued, "timed_out": report.timed_out}


@shared_task(name="executions.tasks.prune_executions")
def prune_executions() -> dict:
    """Retention's periodic pass (control queue): finished executions past their retention."""
    report = retention.executions_prune()
    return {"deleted": report.deleted, "batches": report.batches, "done": report.done}


@shared_task(name="executions.tasks.dispatch_executions")
def dispatch_executions() -> int:
    """The dispatcher's periodic pass (control queue): what is waiting and may run now."""
    return dispatch.dispatch_waiting()


@shared_task(name="executions.tasks.fire_due_triggers")
def fire_due_triggers() -> int:
    """One scheduler pass as a task, for deployments that drive it from their own Beat."""
    return scheduler.fire_due_triggers().fired


@shared_task(name=replays.REPLAY_EXECUTIONS_TASK)
def replay_executions(
    execution_ids: list[int], requested_by_id: int | None, tenant_ids: list[str] | None
) -> dict:
    """The admin's bulk replay, in the background (executions/services/replays.py)."""
    report = replays.executions_replay(
        execution_ids=execution_ids, requested_by_id=requested_by_id, tenant_ids=tenant_ids
    )
    return {"replayed": report.replayed, "refused": report.refused, "missing": report.missing}
