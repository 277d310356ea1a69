"""Concurrency keys (config.concurrency, docs/webhooks.md): real webhook deliveries, a real
agent worker, and an agent runtime on 127.0.0.1 that takes a while per call and records
when each call started and ended. Also fairness.pick's keyed lanes, without a database."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

import pytest
from django.conf import settings as django_settings

from accounts.models import Agent
from executions import fairness
from executions.choices import ExecutionStatus
from executions.models import Execution
from triggers import event_rules

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class SlowRuntime:
    """An agent runtime that answers each call after ``delay`` seconds; ``calls`` holds
    (customer, start, end) per call, in the runtime's own clock."""

    def __init__(self, delay: float):
        self.calls: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                started = time.monotonic()
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                customer = request["input"]["payload"]["customer"]
                time.sleep(delay)
                raw = json.dumps({"output": {"customer": customer}}).encode()
                with owner.lock:  # recorded before the answer: the run ends after it
                    owner.calls.append((customer, started, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_runtime():
    runtime = SlowRuntime(delay=0.3)
    yield runtime
    runtime.close()


def test_a_key_limit_of_one_runs_one_per_customer_at_once_fairly_across_customers(
    client, start_engine, slow_runtime, wait_for, acme, acme_agent, make_trigger, settings
):
    settings.EXECUTION_PUBLISH_BATCH_MS = 0  # dispatched in the delivering thread
    Agent.objects.filter(pk=acme_agent.pk).update(runner="http")
    trigger = make_trigger(
        acme, "webhook", agent=acme_agent, task_prompt="Handle it",
        config={"concurrency": {"key": "payload.customer", "limit": 1}},
    )  # fmt: skip
    start_engine(
        "worker",
        POOL="threads",
        CONCURRENCY="20",
        QUEUES=django_settings.CELERY_AGENT_QUEUE,
        AGENT_RUNTIME_URL=f"{slow_runtime.url}/run",
        AGENT_RUNTIME_SIGNING_SECRET=SECRET,
        EXECUTION_PUBLISH_BATCH_MS="0",
    )
    url = f"/hooks/{trigger.webhook_endpoint.token}"
    # One customer's burst first, then the others': first in, first out would run a's five
    # before b's first.
    for customer in "abc":
        for n in range(5):
            body = {"customer": customer, "n": n}
            assert client.post(url, data=body, content_type="application/json").status_code in (
                200, 202,
            )  # fmt: skip
    keys = Execution.objects.values_list("concurrency_key", flat=True)
    assert sorted(keys) == sorted([*"aaaaa", *"bbbbb", *"ccccc"])

    wait_for(
        lambda: Execution.objects.filter(status=ExecutionStatus.COMPLETED).count() == 15,
        timeout=120,
        message=f"not all 15 completed: {list(Execution.objects.values_list('status'))}",
    )
    calls = sorted(slow_runtime.calls, key=lambda call: call[1])
    assert sorted(customer for customer, _, _ in calls) == sorted([*"aaaaa", *"bbbbb", *"ccccc"])
    for customer in "abc":  # never two calls of one customer at once
        own = [call for call in calls if call[0] == customer]
        for earlier, later in pairwise(own):
            assert later[1] >= earlier[2], (customer, earlier, later)
    # Fair across keys: each customer's first call before any customer's second.
    assert {customer for customer, _, _ in calls[:3]} == set("abc")


def test_a_trigger_without_a_key_stores_none():
    assert event_rules.key_value(None, {"payload": {"customer": "a"}}) is None


def test_key_values_are_strings_json_or_a_digest():
    rule = event_rules.concurrency({"concurrency": {"key": "payload.c", "limit": 2}})
    assert event_rules.key_value(rule, {"payload": {"c": "cust-1"}}) == "cust-1"
    assert event_rules.key_value(rule, {"payload": {"c": 7}}) == "7"
    assert event_rules.key_value(rule, {"payload": {}}) == "null"
    long = event_rules.key_value(rule, {"payload": {"c": "x" * 500}})
    assert long.startswith("sha256:") and len(long) <= event_rules.KEY_COLUMN_LENGTH


def _lane(trigger, key, ids, limit=1, tenant="t"):
    at = datetime(2026, 1, 1, tzinfo=UTC)
    waiting = [fairness.Waiting(i, "webhook", at + timedelta(seconds=i)) for i in ids]
    return fairness.Lane(tenant, trigger, waiting, concurrency_key=key, key_limit=limit)


def test_pick_keeps_each_key_under_its_limit_and_takes_keys_in_turn():
    lanes = [_lane(1, "a", [1, 2, 3], limit=2), _lane(1, "b", [4, 5]), _lane(1, "c", [6])]
    picked = [w.id for w in fairness.pick(
        lanes, places=10, in_flight_by_tenant={}, in_flight_by_trigger={},
        rank=fairness.class_ranks([["webhook"]]),
    )]  # fmt: skip
    # a's oldest, then b's and c's (none in flight), then a's second; a's third and b's
    # second wait: their keys are at their limits.
    assert picked == [1, 4, 6, 2]


def test_pick_counts_what_each_key_has_in_flight():
    lanes = [_lane(1, "a", [1, 2]), _lane(1, "b", [3])]
    picked = fairness.pick(
        lanes, places=10, in_flight_by_tenant={"t": 1}, in_flight_by_trigger={1: 1},
        rank=fairness.class_ranks([["webhook"]]), in_flight_by_key={(1, "a"): 1},
    )  # fmt: skip
    assert [w.id for w in picked] == [3]
