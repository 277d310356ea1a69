"""Debounce and throttle (docs/webhooks.md "Debounce and throttle"): real deliveries over the
webhook URL, the windows and slots as stored, and with real workers and a real Beat."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from executions.choices import ExecutionStatus
from executions.models import Execution
from triggers.services import trigger_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def make_hook(acme, alice):
    def make(**config):
        return trigger_create(
            tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
            config=config,
        )  # fmt: skip

    return make


def post(client, trigger, body):
    return client.post(
        f"/hooks/{trigger.webhook_endpoint.token}",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_it_merges_deliveries_of_one_key_into_one_pending_run_with_the_last_payload(
    client, make_hook
):
    hook = make_hook(debounce={"period_seconds": 60})
    answers = [post(client, hook, {"n": n}) for n in range(5)]

    assert answers[0].status_code == 202
    assert [a.status_code for a in answers[1:]] == [202] * 4
    assert all(a.json()["debounced"] for a in answers[1:])
    assert {a.json()["execution_id"] for a in answers} == {answers[0].json()["execution_id"]}
    assert answers[-1].json()["delivery_count"] == 5
    (execution,) = Execution.objects.all()
    assert execution.input_data["payload"] == {"n": 4}
    assert execution.delivery_count == 5
    assert execution.status == ExecutionStatus.PENDING
    assert execution.available_at > timezone.now() + timedelta(seconds=50)
