"""The Execution: the durable record of one firing of a trigger (an invocation, to the
management API)."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from executions.choices import ExecutionStatus, ExecutionType
from triggers.event_rules import KEY_COLUMN_LENGTH


class Execution(models.Model):
    execution_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Denormalised from the trigger so every query can be scoped without a join.
    # No single-column indexes: execution_tenant_newest and execution_trigger_newest lead
    # with these columns and serve every lookup by them, and each index more is work on
    # every INSERT, the hottest write of the service (docs/benchmarks.md).
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    trigger = models.ForeignKey(
        "triggers.Trigger", on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    execution_type = models.CharField(max_length=16, choices=ExecutionType.choices)
    # A test run (the frontend API's "test"): outside the firing rules, never counted by them.
    is_test = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    # The cron slot this execution is for; unique per trigger so a slot runs once.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # A slot fired on purpose after its time by a backfill (executions/services/backfill.py),
    # not by the scheduler; a scheduled execution all the same. No index: a constant on
    # every other INSERT, read only with the execution.
    is_backfill = models.BooleanField(default=False)
    # A sender's delivery id; unique per trigger so a retried delivery runs once.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)

    request_payload = models.JSONField(null=True, blank=True)  # the raw request, as received
    input_data = models.JSONField(null=True, blank=True)  # what the agent is given
    output_data = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True)

    # The value of its trigger's concurrency key (config.concurrency, triggers/event_rules.py),
    # evaluated once when it was stored; dispatch keeps at most the limit in flight per value.
    # NULL: its trigger has no key (so the keyed index below skips it).
    concurrency_key = models.CharField(max_length=KEY_COLUMN_LENGTH, null=True, blank=True)

    # A replay (the admin's "replay"): the execution whose input this one runs again.
    replay_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replays",
        db_index=False,  # execution_replays below: partial, so a normal INSERT skips it
    )

    retry_count = models.PositiveSmallIntegerField(default=0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    tokens_used = models.PositiveIntegerField(null=True, blank=True)
    tools_executed = models.JSONField(null=True, blank=True)
    worker_id = models.CharField(max_length=255, blank=True)
    conversation_id = models.CharField(max_length=255, blank=True)

    # Debounce and throttle (triggers/cost_control.py, executions/services/cost_control.py).
    # How many deliveries this execution stands for: 1, or with a debounce every delivery
    # merged into it (trailing) or dropped for it (leading), so none is lost silently.
    delivery_count = models.PositiveIntegerField(default=1)
    # The debounce window this execution holds open: the SHA-256 of its key's value, set
    # while it may still take deliveries of that key and cleared by the first delivery that
    # finds it closed (unique per trigger: one open window per key).
    debounce_key = models.CharField(max_length=64, null=True, blank=True)
    # The window's end at the latest: trailing, first delivery + max_wait; leading, + period.
    debounce_until = models.DateTimeField(null=True, blank=True)
    # The throttle key's SHA-256: the key's executions make its slots (execution_throttle).
    throttle_key = models.CharField(max_length=64, null=True, blank=True)

    # A pending execution is not run before this (retry backoff); the sweeper uses it to
    # tell a waiting retry from one that no worker took.
    available_at = models.DateTimeField(default=timezone.now)
    # When the dispatcher handed it to the broker (executions/dispatch.py). NULL: waiting in
    # the database, the queue of record, for a place among those in flight.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # An attempt whose runtime answered "accepted" (202) and posts its result later
    # (docs/runners.md): since when it awaits that result, and its runtime's last heartbeat,
    # which the sweeper's timeout counts from. Both NULL again on a retry.
    awaiting_result_since = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="execution_once_per_slot",
            ),
            models.UniqueConstraint(
                fields=["trigger", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="execution_once_per_idempotency_key",
            ),
            # One open debounce window per trigger and key: parallel deliveries that would
            # each open one meet here, and all but the first merge into it.
            models.UniqueConstraint(
                fields=["trigger", "debounce_key"],
                condition=Q(debounce_key__isnull=False),
                name="execution_debounce_window",
            ),
        ]
        indexes = [
            # The lists, newest first: the order by (created_at, id) in full, and the tenant
            # the lists are scoped by, so a deep page's keys come from the index alone
            # (api/pagination.py's page_rows).
            models.Index(
                fields=["trigger", "-created_at", "-id"],
                include=["tenant"],
                name="execution_trigger_newest",
            ),
            models.Index(fields=["tenant", "-created_at", "-id"], name="execution_tenant_newest"),
            # The admin's executions list across tenants, newest first, with or without a
            # status or type filter (docs/ops-console.md).
            models.Index(fields=["-created_at", "-id"], name="execution_newest"),
            # An execution's replays (few); SET NULL finds them here when it is deleted.
            models.Index(
                fields=["replay_of"],
                name="execution_replays",
                condition=Q(replay_of__isnull=False),
            ),
            # Work the sweeper looks for: pending ones nobody took, running ones past timeout.
            models.Index(
                fields=["available_at"],
                name="execution_pending",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["started_at"],
                name="execution_running",
                condition=Q(status="running"),
            ),
            # A trigger's failed (and cancelled) ones, newest first: the management UI polls
            # "status=failed" every few seconds, and failures are few among many successes.
            models.Index(
                fields=["trigger", "-created_at", "-id"],
                include=["tenant"],
                name="execution_trigger_failed",
                condition=Q(status__in=["failed", "cancelled"]),
            ),
            # The dispatcher's queue: pending executions not handed to the broker yet, by
            # tenant, then trigger, oldest first (a skip scan finds the tenants and triggers).
            models.Index(
                fields=["tenant", "trigger", "available_at", "id"],
                name="execution_waiting",
                condition=Q(status="pending", dispatched_at__isnull=True),
            ),
            # A keyed trigger's queue per key: dispatch finds each key's oldest waiting
            # executions by a skip scan, so a busy key's backlog never hides the others'.
            # Partial on the key: triggers without one add nothing to it on INSERT.
            models.Index(
                fields=["trigger", "concurrency_key", "available_at", "id"],
                name="execution_waiting_keyed",
                condition=Q(
                    status="pending", dispatched_at__isnull=True, concurrency_key__isnull=False
                ),
            ),
            # In flight: handed to the broker, not finished; few (EXECUTION_MAX_IN_FLIGHT).
            models.Index(
                fields=["dispatched_at"],
                include=["tenant", "trigger", "concurrency_key"],
                name="execution_in_flight",
                condition=Q(status__in=["pending", "running"], dispatched_at__isnull=False),
            ),
            # A throttle key's latest slots (partial: only throttled executions pay for it).
            models.Index(
                fields=["trigger", "throttle_key", "-available_at"],
                name="execution_throttle",
                condition=Q(throttle_key__isnull=False),
            ),
            # Overlap checks: does this trigger have an unfinished execution?
            models.Index(
                fields=["trigger", "status"],
                name="execution_unfinished",
                condition=Q(status__in=["pending", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.execution_type} execution {self.execution_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class ServiceHeartbeat(models.Model):
    """The latest sign of life of one process of a background service — the scheduler (each
    Beat), the watcher, the poller: whether it is alive, since when, and what its last pass
    saw (``details``). Written by executions/heartbeats.py, read by ops and health checks."""

    service = models.CharField(max_length=32)
    instance = models.CharField(max_length=255)  # host:pid
    started_at = models.DateTimeField()  # the process's start
    created_at = models.DateTimeField(auto_now_add=True)  # its first beat: ready since
    beat_at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "instance"], name="heartbeat_per_process")
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.instance}"
