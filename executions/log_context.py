"""What the log lines written while an execution runs carry: its id, its trigger and tenant.

``execution_logged`` sets them for the code it wraps (a worker's run of one execution);
``config/logs.py``'s JSON lines formatter (``LOG_FORMAT=json``) adds them to every line.
The engine's one line per execution start and end (executions/services/lifecycle.py) gives
them with ``extra=fields(execution)``, wherever it is written.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[dict | None] = ContextVar("execution_log_context", default=None)


@contextmanager
def execution_logged(execution) -> Iterator[None]:
    token = _current.set(fields(execution))
    try:
        yield
    finally:
        _current.reset(token)


def fields(execution) -> dict:
    """The same ids, for a line about ``execution`` written outside ``execution_logged``
    (``logger.info(…, extra=fields(execution))``)."""
    return {
        "execution_id": str(execution.execution_id),
        "trigger_id": execution.trigger_id,
        "tenant_id": execution.tenant_id,
    }


def current() -> dict:
    """The ids of the execution being run here; empty outside one."""
    return _current.get() or {}
