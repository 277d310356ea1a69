"""Log lines as JSON (``LOG_FORMAT=json``), one object a line, for a log collector.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the traceback
as ``exception``, and — when written while an execution runs, or given with ``extra=`` —
``execution_id``, ``trigger_id`` and ``tenant_id`` (executions/log_context.py).
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
