"""/metrics (Prometheus) and /readyz (readiness); /healthz (liveness) stays in config/urls.py.

/metrics shows the engine's counters and histograms (executions/metrics.py) — with
``PROMETHEUS_MULTIPROC_DIR`` set, summed over every process of the machine that writes there
— and, read from the database at each scrape, the gauges every process would agree on:
pending executions, the oldest one's wait, the scheduler's heartbeat age and its last slot lag.
With ``METRICS_TOKEN`` set, it answers only ``Authorization: Bearer <METRICS_TOKEN>``, from
anywhere; without, it answers loopback only, and only with DEBUG on and no proxy
(``NUM_PROXIES`` 0) — otherwise nothing (docs/ops-console.md).

/readyz answers 200 when the database, the broker and the scheduler's heartbeat are fine,
and 503 naming each check that failed.
"""

import hmac
import ipaddress
import os
import time

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from config.checks import metrics_token_required, num_proxies
from executions import heartbeats, metrics
from executions.selectors import agent_capacity, pending_summary

SCHEDULER = heartbeats.SCHEDULER


class DatabaseGauges:
    """The gauges read from the database at scrape time (cheap, indexed queries)."""

    def collect(self):
        now = timezone.now()
        pending, oldest = pending_summary()
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_pending_executions", "Executions waiting to run.", value=pending
        )
        yield GaugeMetricFamily(
            f"{metrics.PREFIX}_oldest_pending_age_seconds",
            "How long the oldest pending execution that may run has waited (0: none).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        beat = heartbeats.heartbeats(SCHEDULER).only("beat_at", "details").first()
        age = GaugeMetricFamily(
            f"{metrics.PREFIX}_scheduler_heartbeat_age_seconds",
            "Seconds since the scheduler (Beat) last beat; absent when it never has.",
        )
        lag = GaugeMetricFamily(
            f"{metrics.PREFIX}_scheduler_slot_lag_seconds",
            "The scheduler's last firing pass: the longest wait from a slot to its execution.",
        )
        if beat is not None:
            age.add_metric([], max(0.0, (now - beat.beat_at).total_seconds()))
            slot_lag = (beat.details or {}).get("slot_lag_seconds")
            if isinstance(slot_lag, int | float):
                lag.add_metric([], float(slot_lag))
        yield age
        yield lag
        agents = agent_capacity()
        for name, help_text, value in (
            ("agent_calls_in_flight", "Agent runs started and waiting on their agent, a "
             "worker thread each.", agents.calls_in_flight),
            ("agent_runs_dispatched", "Agent runs handed to the agent workers, not started.",
             agents.dispatched),
            ("agent_runs_awaiting_result", "Agent runs whose runtime answered 202: running, "
             "holding no worker, until their result.", agents.awaiting_results),
            ("agent_calls_limit", "At most this many agent runs in flight and dispatched "
             "(AGENT_MAX_IN_FLIGHT); beyond it they wait pending.", agents.limit),
        ):  # fmt: skip
            yield GaugeMetricFamily(f"{metrics.PREFIX}_{name}", help_text, value=value)


class _Scrape:
    """The registry one scrape reads: the process's (or every process's) and the gauges."""

    def __init__(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.processes = CollectorRegistry()
            MultiProcessCollector(self.processes)
        else:
            self.processes = REGISTRY

    def collect(self):
        yield from self.processes.collect()
        yield from DatabaseGauges().collect()


def metrics_allowed(request) -> bool:
    """With METRICS_TOKEN: that bearer token, from anywhere; without: loopback only, and
    only where a loopback address means the scraper is on this host (DEBUG on, no proxy:
    config/checks.py ``metrics_token_required``)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if metrics_token_required(debug=settings.DEBUG, num_proxies=num_proxies()):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics_view(request):
    if not metrics_allowed(request):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)


# -- readiness ----------------------------------------------------------------------------------


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"{type(error).__name__}: {error}".strip()[:300]
    return None


def check_broker() -> str | None:
    """Can this process reach the broker Celery publishes to (the app's, as configured)?"""
    url = current_app.conf.broker_url or ""
    timeout = float(current_app.conf.broker_connection_timeout or 2)
    try:
        if url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            with current_app.connection_for_write() as broker:
                broker.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as error:
        return f"{type(error).__name__}: {error}".strip()[:300]
    return None


def check_scheduler() -> str | None:
    """Has the scheduler beaten within READYZ_SCHEDULER_MAX_AGE_SECONDS?"""
    try:
        beat_at = heartbeats.latest_beat_at(SCHEDULER)
    except Exception as error:
        return f"cannot read its heartbeat: {type(error).__name__}"
    if beat_at is None:
        return "no heartbeat yet"
    age = (timezone.now() - beat_at).total_seconds()
    if age > settings.READYZ_SCHEDULER_MAX_AGE_SECONDS:
        return f"last heartbeat {age:.0f} s ago"
    return None


READINESS_CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "scheduler": check_scheduler,
}


@never_cache
def readyz(request):
    started = time.monotonic()
    problems = {name: check() for name, check in READINESS_CHECKS.items()}
    failed = {name: problem for name, problem in problems.items() if problem}
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {name: problems[name] or "ok" for name in READINESS_CHECKS},
        "failed": sorted(failed),
        "seconds": round(time.monotonic() - started, 3),
    }
    return JsonResponse(body, status=503 if failed else 200)
