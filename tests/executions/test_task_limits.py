"""The safety net behind every outbound deadline: each Celery task has a soft and a hard time
limit from the settings, and the control queue's work (the sweeper, the dispatch pass) runs on
a worker of its own, never behind a run — shown with real workers on PostgreSQL + Redis and
an agent runtime that sends a header line every 0.3 s forever."""

import time

import pytest
from django.conf import settings

from config.celery import app as celery_app
from executions.broker import RUN_EXECUTION_TASK
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.services import firing
from polling.claims import POLL_TASK
from tests.dribbling import DribblingServer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_every_task_has_a_soft_and_a_hard_time_limit():
    import executions.tasks  # noqa: F401 - registers the tasks, as a worker does
    import polling.tasks  # noqa: F401

    ours = {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}
    assert {RUN_EXECUTION_TASK, POLL_TASK, "executions.tasks.sweep_executions"} <= ours.keys()
    for name, task in ours.items():
        assert 0 < task.soft_time_limit < task.time_limit, name
    run, poll = ours[RUN_EXECUTION_TASK], ours[POLL_TASK]
    assert run.soft_time_limit == settings.EXECUTION_TASK_TIME_LIMIT_SECONDS
    assert run.soft_time_limit > settings.AGENT_RUNTIME_TIMEOUT_SECONDS
    assert poll.soft_time_limit == settings.POLLING_TASK_TIME_LIMIT_SECONDS
    assert poll.soft_time_limit > settings.POLLING_TIMEOUT_SECONDS
    sweep = ours["executions.tasks.sweep_executions"]
    assert sweep.soft_time_limit == settings.TASK_TIME_LIMIT_SECONDS


@pytest.fixture
def dribbling_runtime():
    server = DribblingServer(every=0.3)
    yield server
    server.close()


def agent_runtime(server: DribblingServer, **extra: str) -> dict[str, str]:
    return {"AGENT_RUNTIME_URL": f"{server.url}/run", "AGENT_RUNTIME_SIGNING_SECRET": SECRET,
            **extra}  # fmt: skip


def test_a_run_past_its_task_time_limit_fails_with_the_reason(
    start_worker, wait_for, acme, make_trigger, dribbling_runtime
):
    # The runtime's own deadline is a minute away: the task's soft limit (2 s) ends it first.
    start_worker(
        CONCURRENCY="1",
        **agent_runtime(
            dribbling_runtime,
            AGENT_RUNTIME_TIMEOUT_SECONDS="60",
            EXECUTION_TASK_TIME_LIMIT_SECONDS="2",
        ),
    )
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron", max_retries=0))

    wait_for(
        lambda: Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.FAILED).exists(),
        timeout=30,
        message="the run was not ended at its task's time limit",
    )
    execution.refresh_from_db()
    assert execution.error_message == (
        "The attempt ran past its time limit (2 s, EXECUTION_TASK_TIME_LIMIT_SECONDS)."
    )
    assert dribbling_runtime.client_gone.wait(10), "the agent's connection was left open"


def test_the_sweeper_runs_while_every_run_process_is_busy(
    start_engine, wait_for, acme, make_trigger, dribbling_runtime
):
    """As bin/run starts them: one worker for runs (busy with an agent that never finishes),
    one for the control queue. A sweep sent as Beat sends it is done at once, and takes the
    hung run back."""
    start_engine(
        "worker",
        CONCURRENCY="1",
        QUEUES=f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_AGENT_QUEUE}",
        **agent_runtime(dribbling_runtime, AGENT_RUNTIME_TIMEOUT_SECONDS="60"),
    )
    start_engine(
        "worker", CONCURRENCY="1", QUEUES=settings.CELERY_CONTROL_QUEUE,
        EXECUTION_TIMEOUT_SECONDS="1",
    )  # fmt: skip
    execution = firing.execution_create_test(trigger=make_trigger(acme, "cron", max_retries=0))
    assert dribbling_runtime.arrived.wait(30), "the run never reached the agent"
    time.sleep(1.5)  # the run is now older than the control worker's EXECUTION_TIMEOUT_SECONDS

    celery_app.send_task("executions.tasks.sweep_executions")  # routed by the settings

    wait_for(
        lambda: Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.FAILED).exists(),
        timeout=20,
        message="the sweep waited behind the run",
    )
    execution.refresh_from_db()
    assert execution.error_message.startswith("No result within 1 s")
    # The run's worker saw its attempt taken back and let the agent go.
    assert dribbling_runtime.client_gone.wait(10), "the agent's connection was left open"
