"""Polls: one poll of a trigger, on a worker (docs/polling.md).

A poll fetches outside any transaction, then in **one** transaction stores one execution
per new item (idempotency key = the item's id, so an item that somehow comes twice is a
duplicate, not a second execution) and the new cursor; the run messages go out after the
commit. New and old are decided under the trigger's row lock against the cursor as it is
then, so two polls of one trigger at once (a "poll now" during a scheduled poll) still fire
each item once. A poll that fails writes nothing but its error, the failure streak and the
time of the next poll; the cursor stays where it was, and a poll cut short between fetch
and commit (its worker killed) has stored nothing: the next poll fetches again from the
same cursor. Errors count toward freezing through the same rules as failed executions
(executions/policies.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Credential
from executions import policies
from executions.choices import ExecutionType
from executions.services.firing import FiringRefused, execution_fire
from polling import cursors, rules
from polling.choices import PollStatus
from polling.errors import PollFailed
from polling.fetch import Fetched, fetch
from polling.models import PollingState
from polling.services import state
from polling.sources import Answer, Source, source_for
from triggers import event_rules, polling_config
from triggers import services as trigger_services
from triggers.choices import Delivery
from triggers.models import Trigger

logger = logging.getLogger(__name__)

SKIPPED = "skipped"  # a PollReport status: nothing was fetched or written
SAMPLES = 5
# What a poll reads of its trigger (the firing rules' fields among them): loading only these
# keeps the poll cheap, at 10,000 triggers a minute (docs/benchmarks.md).
_POLL_FIELDS = (
    "id", "tenant_id", "provider_id", "provider_trigger_id", "status", "config",
    "config_hash", "connection_id", "max_retries", *policies.RULE_FIELDS,
    "polling_state__cursor", "polling_state__interval_seconds", "polling_state__failures",
    "polling_state__last_polled_at",
)  # fmt: skip


_UNCHANGED = "No new items (unchanged)."


@dataclass(frozen=True)
class PollReport:
    trigger_id: int
    status: str  # PollStatus, or SKIPPED
    result: str
    fired: tuple[uuid.UUID, ...] = ()
    duplicates: int = 0
    deferred: int = 0
    next_poll_at: datetime | None = None

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "result": self.result,
            "fired": len(self.fired),
            "execution_ids": [str(e) for e in self.fired],
            "duplicates": self.duplicates,
            "deferred": self.deferred,
        }


def triggers_poll(*, polls: Sequence[tuple[int, datetime | None]]) -> list[PollReport]:
    """The polls of one poll task: each (trigger id, when it was due). Their sources are
    fetched at the same time (waiting for the sources is what takes long), then each poll
    is committed in turn, in a transaction of its own; one report per poll, in order.

    A poll is skipped when its trigger is gone, not active, not a polling trigger, or was
    polled since it was due (a redelivered or repeated message for a poll already done)."""
    triggers = _polled({trigger_id for trigger_id, _ in polls})
    reports: dict[int, PollReport] = {}
    to_poll = []
    for trigger_id, due_at in polls:
        trigger = triggers.get(trigger_id)
        skipped = _skip_reason(trigger, due_at)
        if skipped:
            reports[trigger_id] = PollReport(trigger_id, SKIPPED, skipped)
        elif trigger_id not in reports:  # a trigger named twice is polled once
            reports[trigger_id] = PollReport(trigger_id, SKIPPED, "Polled with this task.")
            to_poll.append(trigger)
    for report in _poll_all(to_poll):
        reports[report.trigger_id] = report
    return [reports[trigger_id] for trigger_id, _ in polls]


def trigger_poll(*, trigger_id: int, due_at: datetime | None = None) -> PollReport:
    """One scheduled poll (see triggers_poll)."""
    return triggers_poll(polls=[(trigger_id, due_at)])[0]


def trigger_poll_now(*, trigger: Trigger) -> PollReport:
    """A poll now, outside the schedule (the admin's "poll now", the deprecated key
    endpoint), the same as a scheduled one. Raises FiringRefused when the trigger is not
    active, ValueError when it is not a polling trigger."""
    trigger = _polled({trigger.pk}).get(trigger.pk)
    if trigger is None or trigger.delivery != Delivery.POLLING or PollingState.of(trigger) is None:
        raise ValueError(f"{trigger} is not a polling trigger.")
    refusal = policies.status_refusal(trigger.status)
    if refusal is not None:
        raise FiringRefused(refusal)
    return _poll_all([trigger])[0]


def trigger_samples(*, trigger: Trigger) -> list:
    """Up to SAMPLES of the source's current items, newest first, fetched now; the trigger
    and its cursor are left as they are. Raises PollFailed."""
    source = source_for(trigger)
    answer = source.read(_fetch(source, conditional={}))
    return [item.payload for item in cursors.newest_first(answer.items)[:SAMPLES]]


# -- polls ----------------------------------------------------------------------------------------


def _polled(trigger_ids: set[int]) -> dict[int, Trigger]:
    triggers = {
        t.pk: t
        for t in Trigger.objects.select_related("polling_state")
        .only(*_POLL_FIELDS)
        .filter(pk__in=trigger_ids)
    }
    connection_ids = {t.connection_id for t in triggers.values() if t.connection_id}
    if connection_ids:
        connections = Credential.objects.in_bulk(connection_ids)
        for trigger in triggers.values():
            if trigger.connection_id:
                trigger.connection = connections[trigger.connection_id]
    return triggers


def _locked(trigger_id: int) -> Trigger | None:
    """The trigger under its row lock, with its polling state read after the lock was taken
    (the state's writers of a cursor hold that lock too)."""
    try:
        trigger = (
            Trigger.objects.select_for_update()
            .only(*(f for f in _POLL_FIELDS if not f.startswith("polling_state__")))
            .get(pk=trigger_id)
        )
    except Trigger.DoesNotExist:
        return None
    trigger.polling_state = PollingState.objects.filter(trigger_id=trigger_id).first()
    return trigger


def _skip_reason(trigger: Trigger | None, due_at: datetime | None) -> str | None:
    if trigger is None or trigger.delivery != Delivery.POLLING or PollingState.of(trigger) is None:
        return "Not a polling trigger."
    refusal = policies.status_refusal(trigger.status)
    if refusal is not None:
        return refusal.reason
    last_polled_at = trigger.polling_state.last_polled_at
    if due_at is not None and last_polled_at and last_polled_at >= due_at:
        return "Polled already since this poll was due."
    return None


def _poll_all(triggers: list[Trigger]) -> list[PollReport]:
    started = timezone.now()
    fetched = _fetch_all(triggers)
    reports, unchanged = [], []
    for trigger in triggers:
        source, outcome = fetched[trigger.pk]
        try:
            if isinstance(outcome, PollFailed):
                raise outcome
            if _unchanged(trigger.polling_state.cursor, outcome):
                unchanged.append(trigger)
                continue
            answer = source.read(outcome)
        except PollFailed as failed:
            reports.append(_failed(trigger, started, failed))
            continue
        reports.append(_commit(trigger, started, outcome, answer))
    if unchanged:  # nothing new: the cursors stay; one UPDATE records these polls
        state.polling_states_record_unchanged(
            polled=[(t.pk, t.config_hash) for t in unchanged], polled_at=started,
            result=_UNCHANGED,
        )  # fmt: skip
        reports += [PollReport(t.pk, PollStatus.OK, _UNCHANGED) for t in unchanged]
    return reports


def _fetch_all(triggers: list[Trigger]) -> dict[int, tuple[Source | None, object]]:
    """Each trigger's source and what fetching it gave (Fetched, or PollFailed), the
    requests made at the same time; no database work happens off this thread."""
    jobs: dict[int, tuple[Source | None, object]] = {}
    for trigger in triggers:
        try:
            jobs[trigger.pk] = (source_for(trigger), _conditional(trigger.polling_state.cursor))
        except PollFailed as failed:
            jobs[trigger.pk] = (None, failed)
    pending = [pk for pk, (source, _) in jobs.items() if source is not None]

    def one(pk: int):
        source, conditional = jobs[pk]
        try:
            return _fetch(source, conditional=conditional)
        except PollFailed as failed:
            return failed
        except Exception as error:  # a bug meets one source: its poll fails, not the batch's
            logger.exception("Polling trigger %s failed unexpectedly", pk)
            return PollFailed(f"Unexpected error: {type(error).__name__}: {error}")

    results = map(one, pending) if len(pending) < 2 else _fetchers().map(one, pending)
    for pk, outcome in zip(pending, list(results), strict=True):
        jobs[pk] = (jobs[pk][0], outcome)
    return jobs


_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None


def _fetchers() -> ThreadPoolExecutor:
    """This process's fetching threads (made anew after a fork)."""
    global _executor, _executor_pid
    if _executor is None or _executor_pid != os.getpid():
        _executor = ThreadPoolExecutor(
            max_workers=settings.POLLING_POLLS_PER_TASK, thread_name_prefix="poll-fetch"
        )
        _executor_pid = os.getpid()
    return _executor


def _unchanged(cursor, fetched: Fetched) -> bool:
    """Nothing new since the cursor: a 304, or the very answer the cursor was made from."""
    if cursors.is_first_poll(cursor):
        return False
    return fetched.not_modified or _digest(fetched) == cursor.get("digest")


def _fetch(source: Source, *, conditional: dict[str, str]) -> Fetched:
    return fetch(
        source.url,
        headers={**source.headers, **conditional},
        private_headers=source.private_headers,
        timeout=settings.POLLING_TIMEOUT_SECONDS,
        max_bytes=settings.POLLING_MAX_RESPONSE_BYTES,
    )


def _commit(trigger: Trigger, started: datetime, fetched: Fetched, answer: Answer) -> PollReport:
    """The new items' executions and the new cursor, in one transaction."""
    with transaction.atomic():
        locked = _locked(trigger.pk)
        if locked is None or policies.status_refusal(locked.status) is not None:
            return PollReport(trigger.pk, SKIPPED, "The trigger was switched off meanwhile.")
        if locked.config_hash != trigger.config_hash:
            return PollReport(trigger.pk, SKIPPED, "The trigger's config changed meanwhile.")
        if PollingState.of(locked) is None:
            return PollReport(trigger.pk, SKIPPED, "Not a polling trigger.")
        cursor = locked.polling_state.cursor
        plan = cursors.plan(
            cursor, answer.items, initial_items=polling_config.initial_items(locked.config)
        )
        fired: list[uuid.UUID] = []
        duplicates, deferred, refusal, filtered = 0, [], None, 0
        item_filter = event_rules.event_filter(locked.config)
        for item in plan.new:
            if refusal is not None:
                deferred.append(item.key)
                continue
            input_data = _input(item, fetched, answer)
            if event_rules.filtered_reason(item_filter, input_data):
                # config.filter: the item is seen (the cursor passes it), counted, not run.
                trigger_services.trigger_count_filtered(trigger_id=locked.pk)
                filtered += 1
                continue
            try:
                firing = execution_fire(
                    trigger=locked,
                    execution_type=ExecutionType.POLLING,
                    input_data=input_data,
                    idempotency_key=item.key,
                )
            except FiringRefused as refused:  # a limit, a single run spent: try it later
                refusal = refused.reason
                deferred.append(item.key)
                continue
            if firing.created:
                fired.append(firing.execution.execution_id)
            else:
                duplicates += 1
        new_cursor = cursors.advanced(cursor, answer.items, deferred=set(deferred))
        if not deferred:  # a refetch must see the deferred items again: no validators then
            new_cursor.update(_validators(fetched))
        result = _result(plan, len(answer.items), fired, duplicates, deferred, refusal, filtered)
        state.polling_state_record_success(
            trigger_id=locked.pk, polled_at=started, result=result,
            config_hash=locked.config_hash, cursor=new_cursor,
        )  # fmt: skip
    if fired:
        logger.info("Poll of trigger %s: %s", trigger.pk, result)
    return PollReport(trigger.pk, PollStatus.OK, result, tuple(fired), duplicates, len(deferred))


def _failed(trigger: Trigger, started: datetime, failed: PollFailed) -> PollReport:
    """Record the failure; freeze the trigger when its streak reaches the threshold."""
    interval = rules.effective_interval(
        trigger.polling_state.interval_seconds, minimum=settings.POLLING_MIN_INTERVAL_SECONDS
    )
    delay = rules.delay_after_failure(
        interval=interval,
        failures=trigger.polling_state.failures + 1,
        retry_after=failed.retry_after,
    )
    now = timezone.now()
    not_before = now + timedelta(seconds=delay)
    streak = state.polling_state_record_failure(
        trigger_id=trigger.pk, polled_at=started, error=failed.message,
        not_before=not_before, counted=failed.counted,
    )  # fmt: skip
    status = PollStatus.FAILED if failed.counted else PollStatus.THROTTLED
    logger.warning("Poll of trigger %s %s: %s", trigger.pk, status, failed.message)
    if streak is None:
        return PollReport(trigger.pk, SKIPPED, failed.message)
    if failed.counted:
        threshold = policies.failure_threshold(trigger, default=settings.TRIGGER_FAILURE_THRESHOLD)
        if policies.freezes_after_failure(consecutive_failures=streak, threshold=threshold):
            reason = policies.freeze_reason(
                threshold=threshold, last_error=failed.message, of="polls"
            )
            trigger_services.trigger_freeze(trigger_id=trigger.pk, reason=reason, at=now)
    return PollReport(trigger.pk, status, failed.message, next_poll_at=not_before)


# -- pieces ---------------------------------------------------------------------------------------


def _input(item: cursors.Item, fetched: Fetched, answer: Answer) -> dict:
    """What the execution's input carries: the item, its id and where it came from."""
    source = {"url": fetched.url}
    if answer.title is not None:
        source["title"] = answer.title
    return {"item_id": item.raw_id, "item": item.payload, "source": source}


def _conditional(cursor) -> dict[str, str]:
    """A conditional request (ETag, Last-Modified) once the cursor has the answer's."""
    if cursors.is_first_poll(cursor):
        return {}
    headers = {}
    if cursor.get("etag"):
        headers["if-none-match"] = cursor["etag"]
    if cursor.get("last_modified"):
        headers["if-modified-since"] = cursor["last_modified"]
    return headers


def _validators(fetched: Fetched) -> dict:
    """What tells the next poll that nothing changed: the answer's ETag and Last-Modified,
    and its digest (for a source that sends neither)."""
    return {
        "etag": fetched.headers.get("etag"),
        "last_modified": fetched.headers.get("last-modified"),
        "digest": _digest(fetched),
    }


def _digest(fetched: Fetched) -> str | None:
    if fetched.not_modified:
        return None
    return hashlib.sha256(fetched.body).hexdigest()[:32]


def _result(plan, listed: int, fired, duplicates: int, deferred, refusal, filtered=0) -> str:
    if plan.first_poll and not fired and not deferred and not filtered:
        return f"First poll: cursor set at the {listed} item(s) there; none fired."
    parts = [f"{len(fired)} new item(s) fired" if fired else "No new items"]
    if filtered:
        parts.append(f"{filtered} filtered out (config.filter)")
    if duplicates:
        parts.append(f"{duplicates} fired before (duplicates)")
    if deferred:
        parts.append(f"{len(deferred)} left for a later poll: {refusal.rstrip('.')}")
    return "; ".join(parts) + "."
