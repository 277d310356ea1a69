"""The engine with a real Celery worker subprocess on PostgreSQL + Redis."""

from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.services import execution_create_manual


def test_a_manual_execution_runs_on_a_real_worker_and_completes(
    start_worker, wait_for, acme, make_trigger
):
    start_worker()
    trigger = make_trigger(acme, "cron", task_prompt="Summarise {{ trigger.name }}")
    execution = execution_create_manual(trigger=trigger)

    def finished():
        execution.refresh_from_db()
        return execution.status == ExecutionStatus.COMPLETED

    wait_for(finished, timeout=30, message="the worker did not complete the execution")
    assert execution.output_data["dry_run"] is True
    assert execution.output_data["request"]["task_prompt"] == "Summarise cron trigger"
    assert execution.worker_id
    assert Execution.objects.count() == 1
