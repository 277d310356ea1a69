"""Who may write each table: the check behind docs/architecture.md's "Tables and their owners".

Every statement the suite's code sends is looked at (``record_write``, installed on each
database connection by tests/conftest.py): an INSERT, UPDATE or DELETE of a table listed in
``TABLE_OWNERS`` must be sent from inside a call to one of its owner modules. A write made by
any other module — a view, an admin, a task, another app's service, the engine's raw SQL — is
a failure of the test during which it ran. Tests may arrange rows directly (the frame nearest
the statement is a test's own), migrations move rows, and what a service's delete does to
the rows that point at it (deleted with it, or their link set to NULL) is that service's
write.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

# table -> the modules (dotted prefixes) that write it.
TABLE_OWNERS: dict[str, tuple[str, ...]] = {
    "triggers_trigger": ("triggers.services",),
    "polling_pollingstate": ("polling.services",),
    "webhooks_webhookendpoint": ("webhooks.services",),
    # The engine: its services, the one INSERT every firing shares, dispatch's marks.
    "executions_execution": ("executions.services", "executions.inserts", "executions.dispatch"),
    "executions_serviceheartbeat": ("executions.heartbeats",),
    "watcher_ledger": ("watcher.services",),
    "watcher_ledgerentry": ("watcher.services",),
    "flows_flow": ("flows.services",),
    "flows_node": ("flows.services",),
    "flows_connection": ("flows.services",),
    "accounts_tenant": ("accounts.services",),
    "accounts_membership": ("accounts.services",),
    "accounts_useridentity": ("accounts.services",),
    "accounts_apitoken": ("accounts.services",),
    "accounts_project": ("accounts.services",),
    "accounts_agent": ("accounts.services",),
    "accounts_credential": ("accounts.services",),
    "accounts_outsideaccount": ("accounts.services",),
    "alerts_alertchannel": ("alerts.services",),
    "alerts_alertepisode": ("alerts.services",),
    "alerts_alertnotification": ("alerts.services",),
}

_WRITTEN_TABLE = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?([a-z_][a-z0-9_]*)\"?", re.IGNORECASE
)
_TESTS = str(Path(__file__).resolve().parent) + "/"
_ROOT = str(Path(__file__).resolve().parent.parent) + "/"
_THIS = __file__


@dataclass(frozen=True)
class Violation:
    table: str
    writer: str  # module:line of the nearest project frame
    sql: str

    def __str__(self) -> str:
        owners = " or ".join(TABLE_OWNERS[self.table])
        return f"{self.writer} wrote {self.table} outside {owners}: {self.sql[:160]}"


violations: list[Violation] = []


# Most statements read: they are let through before any regular expression runs.
_READS = ("SELECT", "SAVEPO", "RELEAS", "ROLLBA", "BEGIN", "COMMIT", "SET ", "SHOW ", "EXPLAI")


def written_tables(sql: str) -> set[str]:
    return {name.lower() for name in _WRITTEN_TABLE.findall(sql)} & TABLE_OWNERS.keys()


def _stack():
    """(module, file, line) of each frame calling the database, innermost first."""
    frame = sys._getframe(2)
    while frame is not None:
        yield frame.f_globals.get("__name__", ""), frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back


def _is_project(filename: str) -> bool:
    return filename.startswith(_ROOT) and "/.venv" not in filename and filename != _THIS


def check_write(sql: str) -> None:
    if sql[:6].upper().startswith(_READS):
        return
    tables = written_tables(sql)
    if not tables:
        return
    stack = list(_stack())
    nearest = next(((m, f, n) for m, f, n in stack if _is_project(f)), None)
    if nearest is None or nearest[1].startswith(_TESTS):
        return  # a test arranging its rows, or the test database's own flush
    names = [name for name, _file, _line in stack]
    if any(".migrations." in name for name in names):
        return
    # A delete's consequences (rows deleted with it, links set to NULL) are its writer's.
    cascade = "django.db.models.deletion" in names
    for table in tables:
        owners = TABLE_OWNERS[table]
        if any(name.startswith(owners) for name in names):
            continue
        if cascade and any(name.endswith(".services") or ".services." in name for name in names):
            continue
        violations.append(Violation(table, f"{nearest[0]}:{nearest[2]}", " ".join(sql.split())))


def record_write(execute, sql, params, many, context):
    check_write(sql)
    return execute(sql, params, many, context)
