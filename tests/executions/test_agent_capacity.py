"""Capacity where ops staff look: agent calls in flight, handed over, awaiting results and
the limit, on the dashboard and /metrics (docs/runners.md, docs/ops-console.md)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from executions.models import Execution
from executions.selectors import agent_capacity
from executions.services.firing import execution_fire
from tests.config.test_observability import scrape
from tests.conftest import purge_test_queue


@pytest.fixture
def agent_runs(acme, acme_agent, make_trigger, settings):
    """Two agent runs in a call, one awaiting its result, one handed over and one waiting;
    and instant (dry_run) runs in flight, which must not count."""
    settings.AGENT_MAX_IN_FLIGHT = 7
    acme_agent.runner = "http"
    acme_agent.save()
    slow = make_trigger(acme, "webhook", name="slow", agent=acme_agent)
    quick = make_trigger(acme, "webhook", name="quick")
    now = timezone.now()

    def fire(trigger, **state):
        execution = execution_fire(trigger=trigger, execution_type="webhook").execution
        Execution.objects.filter(pk=execution.pk).update(**state)

    for _ in range(2):
        fire(slow, status="running", started_at=now, dispatched_at=now)
    fire(slow, status="running", started_at=now, awaiting_result_since=now)
    fire(slow, dispatched_at=now)  # pending, handed to the agent queue
    fire(slow)  # pending, waiting in the database
    fire(quick, status="running", started_at=now, dispatched_at=now)
    fire(quick, dispatched_at=now)
    yield
    purge_test_queue()


def test_the_capacity_counts_agent_runs_only(agent_runs, acme):
    capacity = agent_capacity()

    assert capacity.calls_in_flight == 2
    assert capacity.awaiting_results == 1
    assert capacity.dispatched == 1
    assert capacity.limit == 7
    assert agent_capacity(["globex"]).calls_in_flight == 0  # scoped to the viewer's tenants


def test_the_dashboard_shows_agent_calls_against_the_limit(agent_runs, client):
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)

    page = client.get(reverse("admin:index")).content.decode()

    assert '<td id="agent-calls">2 of 7 (1 more handed to the agent workers)' in page
    assert '<td id="agent-awaiting">1</td>' in page


def test_metrics_show_agent_calls_and_the_limit(agent_runs, client):
    samples = scrape(client)

    assert samples[("agent_triggers_agent_calls_in_flight", ())] == 2
    assert samples[("agent_triggers_agent_runs_dispatched", ())] == 1
    assert samples[("agent_triggers_agent_runs_awaiting_result", ())] == 1
    assert samples[("agent_triggers_agent_calls_limit", ())] == 7
