"""Run now is throttled per trigger (issue 19, finding 6): THROTTLE_RUN_NOW runs, whoever
asks, then 429 with Retry-After on the management API's rerun and a message in the admin;
the frontend API's test runs are not counted."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from executions.models import Execution
from executions.services.firing import FiringRefused, execution_run_now
from triggers.models import Trigger

BASE = "/manage/tenants/acme/projects/support/agents/triage/triggers"


@pytest.fixture
def hook(alice_client, acme_agent):
    response = alice_client.post(BASE, {"id": "orders", "name": "Orders"}, format="json")
    assert response.status_code == 201, response.content
    return Trigger.objects.get(public_id="orders")


def rerun(client):
    return client.post(f"{BASE}/orders/rerun", {"userMessage": "go"}, format="json")


def test_rerun_is_429_with_retry_after_past_the_rate(alice_client, hook, settings):
    settings.THROTTLE_RUN_NOW = "3/min"

    answers = [rerun(alice_client) for _ in range(5)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    refused = answers[3]
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "3/min per trigger" in refused.json()["detail"]
    assert Execution.objects.filter(trigger=hook).count() == 3


def test_the_count_is_per_trigger(acme, make_trigger, settings):
    settings.THROTTLE_RUN_NOW = "1/hour"
    first, second = make_trigger(acme, "webhook"), make_trigger(acme, "webhook")

    execution_run_now(trigger=first)
    execution_run_now(trigger=second)
    with pytest.raises(FiringRefused) as refused:
        execution_run_now(trigger=first)

    assert refused.value.retry_after_seconds > 3000


def test_the_admin_action_is_throttled_too(client, acme, make_trigger, settings):
    settings.THROTTLE_RUN_NOW = "1/min"
    trigger = make_trigger(acme, "webhook")
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    url = reverse("admin:triggers_trigger_changelist")
    run_now = {"action": "run_now", "_selected_action": [trigger.pk]}

    client.post(url, run_now)
    page = client.post(url, run_now, follow=True).content.decode()

    assert trigger.executions.count() == 1
    assert "Run now is limited to 1/min per trigger" in page


def test_test_runs_are_not_run_now(alice_client, acme, make_trigger, settings):
    settings.THROTTLE_RUN_NOW = "1/min"
    trigger = make_trigger(acme, "webhook")

    answers = [alice_client.post(f"/api/triggers/{trigger.id}/test") for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 201]
