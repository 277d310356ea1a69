"""Replays: an execution run again, as a new execution with the same input, linked to it.

A replay is a firing of the same trigger, of the same type, with the original's request
payload and transformed input, under the same firing rules as every other firing (a
disabled or frozen trigger refuses it, a limit counts it); ``replay_of`` links it to the
execution it replays. The admin replays one execution, or in the background every
execution a filter selects (``executions_replay``, run by the ``replay_executions`` task).
"""

import logging
from collections import Counter
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from executions.models import Execution
from executions.services.firing import FiringRefused, execution_fire
from triggers.models import Trigger

logger = logging.getLogger(__name__)

# Registered by executions/tasks.py under this name; sent by name, as the run task is
# (executions/broker.py), so the services never import the tasks that call them.
REPLAY_EXECUTIONS_TASK = "executions.tasks.replay_executions"


def execution_replay(
    *, execution: Execution, requested_by: AbstractBaseUser | None = None
) -> Execution:
    """A new execution of ``execution``'s trigger with its input, linked to it (stored and
    enqueued). Raises FiringRefused when a firing rule refuses."""
    trigger = Trigger.objects.get(pk=execution.trigger_id)
    firing = execution_fire(
        trigger=trigger,
        execution_type=execution.execution_type,
        input_data=execution.input_data,
        request_payload=execution.request_payload,
        conversation_id=execution.conversation_id,
        replay_of=execution,
    )
    who = getattr(requested_by, "username", None)
    logger.info(
        "Execution %s replayed as %s (by %s)",
        execution.execution_id, firing.execution.execution_id, who,
    )  # fmt: skip
    return firing.execution


@dataclass
class ReplayReport:
    replayed: int = 0
    refused: int = 0
    missing: int = 0  # deleted (or of another tenant) since they were chosen
    reasons: Counter = field(default_factory=Counter)


def executions_replay(
    *,
    execution_ids: list[int],
    requested_by_id: int | None = None,
    tenant_ids: list[str] | None = None,
) -> ReplayReport:
    """Replay each execution of ``execution_ids`` (at most BULK_REPLAY_MAX), each on its own:
    one refused by a rule leaves the others alone. ``tenant_ids``: only executions of these
    tenants (the requester's, for staff who are not superusers); None: any tenant."""
    ids = list(execution_ids)[: settings.BULK_REPLAY_MAX]
    executions = Execution.objects.filter(pk__in=ids).order_by("created_at", "id")
    if tenant_ids is not None:
        executions = executions.filter(tenant_id__in=tenant_ids)
    requester = get_user_model().objects.filter(pk=requested_by_id).first()
    report = ReplayReport()
    for execution in executions.iterator(chunk_size=500):
        try:
            execution_replay(execution=execution, requested_by=requester)
        except FiringRefused as refused:
            report.refused += 1
            report.reasons[refused.reason] += 1
        else:
            report.replayed += 1
    report.missing = len(ids) - report.replayed - report.refused
    return report


def executions_replay_later(
    *, execution_ids: list[int], requested_by_id: int | None, tenant_ids: list[str] | None
) -> int:
    """``executions_replay`` in the background, by a worker, once the caller's transaction
    commits; returns how many executions it will replay (at most BULK_REPLAY_MAX)."""
    ids = list(execution_ids)[: settings.BULK_REPLAY_MAX]
    transaction.on_commit(
        lambda: current_app.send_task(REPLAY_EXECUTIONS_TASK, (ids, requested_by_id, tenant_ids))
    )
    return len(ids)
