"""The worker's two statements on PostgreSQL: start executions, and store their results.

An execution's own work in the worker is two round trips, whatever the size of its run
message's batch (executions/dispatch.py): one ``UPDATE … RETURNING`` that starts every
pending, due execution of the message that no overlap rule holds back and brings each back
with its trigger, agent and project (as ``select_related`` would load them); and one that
stores the completed ones' results and counts them on their triggers. Both only match the
state they expect (pending; this very attempt still running), so a duplicated message, a
cancel, or the sweeper racing a slow worker never moves an execution twice.

Other databases (SQLite, the embedded default) take the portable path in lifecycle.py.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.db import connection

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from triggers import services as trigger_services
from triggers.choices import OverlapPolicy
from triggers.models import Trigger

_PENDING, _RUNNING = ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value
_COMPLETED = ExecutionStatus.COMPLETED.value


def start_many(execution_ids: Sequence, worker_id: str, now: datetime) -> list[Execution]:
    """Start the given executions that are pending, due and not held back by
    ``buffer_one`` or a backfill's one-after-another (policies.start_waits_for_running; the
    caller looks at the others one by one); returns them in no order."""
    models = _start_models()
    with connection.cursor() as cursor:
        cursor.execute(
            _start_sql(),
            [now, worker_id, now, now, [uuid.UUID(str(i)) for i in execution_ids], now],
        )
        rows = cursor.fetchall()
    return [_loaded(row, models) for row in rows]


def _loaded(row, models) -> Execution:
    loaded, at = [], 0
    for model, fields in models:
        values = row[at : at + len(fields)]
        at += len(fields)
        if values[0] is None:  # a LEFT JOIN that found nothing (no agent, no project)
            loaded.append(None)
            continue
        values = [
            f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
            for f, v in zip(fields, values, strict=True)
        ]
        loaded.append(model.from_db(connection.alias, [f.attname for f in fields], values))
    execution, trigger, agent, project = loaded
    trigger._state.fields_cache["agent"] = agent
    trigger._state.fields_cache["project"] = project
    execution._state.fields_cache["trigger"] = trigger
    return execution


@lru_cache(maxsize=1)
def _start_models() -> list:
    trigger_field = Trigger._meta.get_field
    return [
        (model, list(model._meta.concrete_fields))
        for model in (
            Execution,
            Trigger,
            trigger_field("agent").related_model,
            trigger_field("project").related_model,
        )
    ]


@lru_cache(maxsize=1)
def _start_sql() -> str:
    (_e, ef), (_t, tf), (agent, af), (project, pf) = _start_models()

    def columns(alias, fields):
        return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)

    return (
        f"WITH started AS (UPDATE executions_execution e SET status = '{_RUNNING}',"
        " started_at = %s, completed_at = NULL, worker_id = %s,"
        " dispatched_at = COALESCE(e.dispatched_at, %s), updated_at = %s"
        f" FROM triggers_trigger t WHERE e.execution_id = ANY(%s) AND e.status = '{_PENDING}'"
        " AND e.available_at <= %s AND t.id = e.trigger_id"
        f" AND NOT (e.execution_type = '{ExecutionType.SCHEDULED.value}'"
        f" AND (t.overlap_policy = '{OverlapPolicy.BUFFER_ONE.value}'"
        f" OR (e.is_backfill AND t.overlap_policy <> '{OverlapPolicy.ALLOW.value}')))"
        " RETURNING e.*) "
        f"SELECT {columns('started', ef)}, {columns('t', tf)}, {columns('a', af)},"
        f" {columns('p', pf)} FROM started JOIN triggers_trigger t ON t.id = started.trigger_id"
        f" LEFT JOIN {agent._meta.db_table} a ON a.id = t.agent_id"
        f" LEFT JOIN {project._meta.db_table} p ON p.id = t.project_id"
    )


@dataclass(frozen=True)
class Completion:
    """An attempt's result, to be stored."""

    execution: Execution
    output_data: object
    tokens_used: int | None
    tools_executed: object
    conversation_id: str
    completed_at: datetime


# Each still-running attempt becomes completed with its result; its trigger counts them
# (triggers.services.triggers_count_completed, the trigger table's one writer).
_COMPLETE_SQL = f"""
WITH result (id, retry_count, output_data, tokens_used, tools_executed, conversation_id,
             completed_at) AS (
    SELECT * FROM unnest(%s::bigint[], %s::int[], %s::jsonb[], %s::int[], %s::jsonb[],
                         %s::varchar[], %s::timestamptz[])
)
UPDATE executions_execution e SET status = '{_COMPLETED}', output_data = r.output_data,
    tokens_used = r.tokens_used, tools_executed = r.tools_executed,
    conversation_id = COALESCE(NULLIF(r.conversation_id, ''), e.conversation_id),
    error_message = '',
    completed_at = r.completed_at, updated_at = r.completed_at
FROM result r
WHERE e.id = r.id AND e.status = '{_RUNNING}' AND e.retry_count = r.retry_count
RETURNING e.id, e.trigger_id, e.completed_at
"""


def complete_many(completions: Sequence[Completion]) -> set[int]:
    """Store the results of attempts still running, in one statement, and count them on
    their triggers in another (run them in one transaction); returns the pks stored (an
    attempt cancelled or taken back by the sweeper meanwhile is not)."""
    encode = _json_encoder()
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_SQL,
            [
                [c.execution.pk for c in completions],
                [c.execution.retry_count for c in completions],
                [encode(c.output_data) for c in completions],
                [c.tokens_used for c in completions],
                [encode(c.tools_executed) for c in completions],
                [(c.conversation_id or "")[:255] for c in completions],
                [c.completed_at for c in completions],
            ],
        )
        completed = cursor.fetchall()
    trigger_services.triggers_count_completed(
        completed=[(trigger_id, at) for _pk, trigger_id, at in completed]
    )
    return {pk for pk, _trigger_id, _at in completed}


@lru_cache(maxsize=1)
def _json_encoder():
    """JSON as the model's JSONField would write it (its encoder); None is SQL NULL."""
    encoder = Execution._meta.get_field("output_data").encoder

    def encode(value):
        return None if value is None else json.dumps(value, cls=encoder)

    return encode
