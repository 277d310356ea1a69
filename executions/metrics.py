"""The engine's Prometheus counters and histograms, moved where the events happen.

The services call the plain functions below (never the views): an execution stored, started
or finished, the scheduler's slots, a webhook delivery's outcome. Gauges that describe the
state of the database — pending executions, the oldest one's age, the scheduler's heartbeat —
are not kept here: ``config/observability.py`` reads them from the database when /metrics is
scraped, so every process shows the same numbers.

Under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set (in the environment of every process of
the machine: web, worker, Beat), prometheus-client writes each process's values to files in
that folder and /metrics sums them (docs/ops-console.md). A machine shows its own processes.
"""

from functools import lru_cache

from prometheus_client import Counter, Histogram

PREFIX = "agent_triggers"

EXECUTIONS = Counter(
    f"{PREFIX}_executions",
    "Executions that reached a status (stored pending or cancelled, then running, completed, "
    "failed, cancelled; a retry goes back to pending), by type and status.",
    ["type", "status"],
)
EXECUTION_DURATION = Histogram(
    f"{PREFIX}_execution_duration_seconds",
    "From an attempt's start to the execution's end, by type and final status.",
    ["type", "status"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, float("inf")),
)
QUEUE_WAIT = Histogram(
    f"{PREFIX}_execution_queue_wait_seconds",
    "From the moment an execution could run (stored, or its retry's backoff over) to its "
    "start on a worker, by type.",
    ["type"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf")),
)
FIRE_DELAY = Histogram(
    f"{PREFIX}_fire_delay_seconds",
    "From a cron slot's time to its execution stored by the scheduler.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, float("inf")),
)
SLOTS = Counter(
    f"{PREFIX}_scheduler_slots",
    "Cron slots the scheduler decided, by outcome: fired; skipped (refused by a firing rule: "
    "overlap, a limit, single execution); missed (passed while the scheduler was not "
    "running, skipped by the misfire policy).",
    ["outcome"],
)
WEBHOOK_REQUESTS = Counter(
    f"{PREFIX}_webhook_requests",
    "Webhook deliveries by outcome: stored, duplicate, filtered, ignored, challenge, or the "
    "code of the refusal (not_found, invalid_signature, rate_limited …), or error.",
    ["outcome"],
)

SLOT_OUTCOMES = ("fired", "skipped", "missed")


@lru_cache(maxsize=1024)  # a few dozen in practice: types by statuses, outcomes
def _child(metric, *label_values):
    """``metric.labels(*label_values)``, which validates and locks on every call: a few
    percent of a webhook delivery's CPU, for the same child every time."""
    return metric.labels(*label_values)


def executions_reached(execution_type: str, status: str, count: int = 1) -> None:
    """``count`` executions of ``execution_type`` reached ``status``."""
    if count:
        _child(EXECUTIONS, execution_type, status).inc(count)


def execution_started(execution_type: str, *, queue_wait_seconds: float) -> None:
    executions_reached(execution_type, "running")
    QUEUE_WAIT.labels(type=execution_type).observe(max(0.0, queue_wait_seconds))


def execution_finished(
    execution_type: str, status: str, *, duration_seconds: float | None = None
) -> None:
    executions_reached(execution_type, status)
    if duration_seconds is not None:
        EXECUTION_DURATION.labels(type=execution_type, status=status).observe(
            max(0.0, duration_seconds)
        )


def slots_decided(*, fired: int, skipped: int, missed: int, fire_delays=()) -> None:
    """One scheduler batch: its slots by outcome and each fired slot's delay (seconds)."""
    for outcome, count in zip(SLOT_OUTCOMES, (fired, skipped, missed), strict=True):
        if count:
            SLOTS.labels(outcome=outcome).inc(count)
    for delay in fire_delays:
        FIRE_DELAY.observe(max(0.0, delay))


def webhook_request(outcome: str) -> None:
    _child(WEBHOOK_REQUESTS, outcome).inc()
