"""The terminal's lines (config/logs.py): Celery's line per task message and Beat's per
periodic task are left out, every warning and error is kept, and the engine writes one line
when an execution starts and one when it ends, with its ids. bin/run's own terminal:
tests/test_terminal.py."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from config.logs import JsonLinesFormatter, QuietTaskLines
from executions.models import Execution
from executions.services import firing, lifecycle
from executions.services.backfill import trigger_backfill
from tests.conftest import purge_test_queue


def _record(name: str, level: int, msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("name", "level", "msg", "kept"),
    [
        ("celery.worker.strategy", logging.INFO, "Task %(name)s[%(id)s] received", False),
        (
            "celery.app.trace",
            logging.INFO,
            "Task %(name)s[%(id)s] succeeded in %(runtime)ss",
            False,
        ),
        ("celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)", False),
        ("celery.worker.request", logging.INFO, "Discarding revoked task: %s[%s]", False),
        ("kombu.connection", logging.WARNING, "No hostname was supplied. Reverting to 'x'", False),
        # Kept: failures, startup, and everything else.
        ("celery.app.trace", logging.ERROR, "Task %(name)s[%(id)s] raised unexpected", True),
        ("celery.beat", logging.INFO, "beat: Starting...", True),
        ("celery.beat", logging.ERROR, "Message Error: Couldn't apply scheduled task", True),
        ("celery.apps.worker", logging.INFO, "%s ready.", True),
        ("kombu.connection", logging.WARNING, "Connection refused", True),
        ("executions.services.lifecycle", logging.INFO, "Execution %s started", True),
        ("executions.dispatch", logging.WARNING, "Dispatch pass failed", True),
    ],
)
def test_only_the_per_task_message_lines_are_left_out(name, level, msg, kept):
    assert QuietTaskLines().filter(_record(name, level, msg)) is kept


@pytest.fixture
def engine_lines():
    """The engine's lines as LOG_FORMAT=json writes them."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonLinesFormatter())
    log = logging.getLogger("executions.services.lifecycle")
    log.addHandler(handler)
    level, log.level = log.level, logging.INFO
    yield lambda: [json.loads(line) for line in lines.getvalue().splitlines()]
    log.removeHandler(handler)
    log.level = level
    purge_test_queue()


def test_an_execution_writes_one_line_when_it_starts_and_one_when_it_ends(
    engine_lines, acme, make_trigger
):
    trigger = make_trigger(acme, "webhook")
    execution = firing.execution_fire(trigger=trigger, execution_type="webhook").execution

    lifecycle.execution_run(execution_id=execution.execution_id, worker_id="w1")

    started, ended = engine_lines()
    assert started["message"] == (
        f"Execution {execution.execution_id} started: webhook run of trigger #{trigger.pk}"
    )
    assert ended["message"].startswith(f"Execution {execution.execution_id} completed in ")
    for line in (started, ended):
        assert line["level"] == "INFO"
        ids = (line["execution_id"], line["trigger_id"], line["tenant_id"])
        assert ids == (str(execution.execution_id), trigger.pk, "acme")


def test_a_failed_attempt_its_retry_and_the_final_failure_are_warnings_on_one_line(
    engine_lines, acme, make_trigger
):
    trigger = make_trigger(acme, "webhook", max_retries=1)
    execution = firing.execution_fire(trigger=trigger, execution_type="webhook").execution

    for _ in range(2):
        lifecycle.executions_start(execution_ids=[execution.execution_id], worker_id="w")
        execution.refresh_from_db()
        lifecycle.execution_attempt_failed(execution=execution, error_message="agent\nsaid no")
        Execution.objects.filter(pk=execution.pk).update(
            available_at=timezone.now()
        )  # backoff over

    messages = [(line["level"], line["message"]) for line in engine_lines()]
    assert messages[1][0] == "WARNING"
    assert messages[1][1].startswith(f"Execution {execution.execution_id}: attempt 1 failed, ")
    assert messages[1][1].endswith(": agent said no")
    assert messages[2] == (
        "INFO",
        f"Execution {execution.execution_id} started: webhook run of trigger #{trigger.pk} "
        "(attempt 2)",
    )
    assert messages[3] == ("WARNING", f"Execution {execution.execution_id} failed: agent said no")
    assert len(messages) == 4


def test_a_backfilled_slot_says_so_when_it_starts(engine_lines, acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="0 * * * *")
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    done = trigger_backfill(trigger=trigger, start=hour - timedelta(minutes=1), end=hour)

    lifecycle.executions_start(execution_ids=[done.slots[0].execution_id], worker_id="w")

    [started] = engine_lines()
    assert started["message"].endswith(
        f"started: scheduled run of trigger #{trigger.pk} (backfill)"
    )
