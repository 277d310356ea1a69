"""What the service's log lines look like, and which are left out.

``JsonLinesFormatter``: log lines as JSON (``LOG_FORMAT=json``), one object a line, for a log
collector. Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the
traceback as ``exception``, and — when written while an execution runs, or given with
``extra=`` — ``execution_id``, ``trigger_id`` and ``tenant_id`` (executions/log_context.py).

``QuietTaskLines``: Celery writes two INFO lines for every task message a worker takes
("Task … received", "Task … succeeded in …") and Beat one for every periodic task it sends
("Scheduler: Sending due task …"). The periodic dispatch pass alone (every 2 s) and the
sweeper made 136 such lines in the first 100 s of a fresh ``bin/run``, burying what a person
watches for. They are left out (settings ``LOGGING``; ``LOG_LEVEL=DEBUG`` keeps them), with
kombu's warning that the embedded broker's URL has no host; the engine writes one line of
its own when an execution starts and one when it ends (executions/services/lifecycle.py), and
every other warning and every error passes.
"""

import json
import logging
from datetime import UTC, datetime

from executions.log_context import current

CONTEXT_FIELDS = ("execution_id", "trigger_id", "tenant_id")


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current())
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# Loggers whose INFO lines are each about one task message (its receipt, its success).
_TASK_MESSAGE_LOGGERS = frozenset({"celery.worker.strategy", "celery.app.trace"})
# (logger, the start of its message): Beat's line per periodic task sent; a worker's line
# per periodic pass it discards because the pass expired in the queue (retention's prune
# expires after its interval: the next one does its work); kombu's warning on every new
# connection to a broker URL without a host, which the embedded filesystem broker
# (filesystem://) never has — a warning about nothing.
_NOISE = (
    ("celery.beat", "Scheduler: Sending due task"),
    ("celery.worker.request", "Discarding revoked task"),
    ("kombu.connection", "No hostname was supplied"),
)


class QuietTaskLines(logging.Filter):
    """Leaves out Celery's INFO lines about each task message, Beat's about each periodic
    task it sends and kombu's host warning of the filesystem broker (see the module); keeps
    every other line, and every other warning and error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and record.name in _TASK_MESSAGE_LOGGERS:
            return False
        if record.levelno >= logging.ERROR or not isinstance(record.msg, str):
            return True
        return not any(
            record.name == name and record.msg.startswith(start) for name, start in _NOISE
        )
