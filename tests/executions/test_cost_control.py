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


def test_parallel_deliveries_on_one_key_make_exactly_one_run(client, make_hook, race):
    from django.test import Client

    hook = make_hook(debounce={"period_seconds": 60})

    answers = race(lambda: post(Client(), hook, {"n": 1}), 12)

    assert all(getattr(a, "status_code", a) == 202 for a in answers), answers
    (execution,) = Execution.objects.all()
    assert execution.delivery_count == 12
    assert {a.json()["execution_id"] for a in answers} == {str(execution.execution_id)}


def test_each_key_value_has_its_own_window(client, make_hook):
    hook = make_hook(debounce={"key": "customer.id", "period_seconds": 60})

    for customer in ("a", "b", "a", "b", "a"):
        post(client, hook, {"customer": {"id": customer}, "seen": customer})

    counts = sorted(Execution.objects.values_list("delivery_count", flat=True))
    assert counts == [2, 3]


def test_a_leading_debounce_runs_the_first_and_counts_the_dropped_on_it(client, make_hook):
    hook = make_hook(debounce={"period_seconds": 60, "mode": "leading"})

    first = post(client, hook, {"n": 0})
    later = [post(client, hook, {"n": n}) for n in range(1, 4)]

    assert first.status_code == 202
    assert [a.status_code for a in later] == [200, 200, 200]
    assert later[-1].json() | {"status": None} == {
        "execution_id": first.json()["execution_id"], "status": None, "duplicate": False,
        "debounced": True, "delivery_count": 4,
    }  # fmt: skip
    (execution,) = Execution.objects.all()
    assert execution.input_data["payload"] == {"n": 0}  # the first ran; the rest were dropped
    assert execution.available_at <= timezone.now()
    assert execution.delivery_count == 4


def test_a_trailing_window_waits_at_most_max_wait_after_its_first_delivery(client, make_hook):
    hook = make_hook(debounce={"period_seconds": 50, "max_wait_seconds": 60})
    post(client, hook, {"n": 0})
    execution = Execution.objects.get()
    # The first delivery came 30 s ago: a delivery now would wait until now + 50 s, later
    # than its first + 60 s.
    Execution.objects.filter(pk=execution.pk).update(
        debounce_until=timezone.now() + timedelta(seconds=30)
    )
    before = timezone.now()

    post(client, hook, {"n": 1})

    execution.refresh_from_db()
    assert execution.delivery_count == 2
    assert execution.available_at < before + timedelta(seconds=31)


def test_a_closed_window_makes_the_next_delivery_open_another(client, make_hook):
    hook = make_hook(debounce={"period_seconds": 60})
    post(client, hook, {"n": 0})
    first = Execution.objects.get()
    Execution.objects.filter(pk=first.pk).update(available_at=timezone.now())  # due now

    answer = post(client, hook, {"n": 1})

    assert answer.status_code == 202 and "debounced" not in answer.json()
    first.refresh_from_db()
    assert first.debounce_key is None and first.input_data["payload"] == {"n": 0}
    second = Execution.objects.exclude(pk=first.pk).get()
    assert second.debounce_key and second.delivery_count == 1


def test_a_throttle_makes_the_excess_wait_in_order_for_the_next_slots(client, make_hook):
    hook = make_hook(throttle={"limit": 3, "period_seconds": 10})
    before = timezone.now()

    answers = [post(client, hook, {"n": n}) for n in range(10)]

    assert [a.status_code for a in answers] == [202] * 10
    executions = list(Execution.objects.order_by("available_at", "id"))
    assert [e.input_data["payload"]["n"] for e in executions] == list(range(10))
    # The first three start at once; each later one a period after the one three before it.
    assert all(e.available_at < before + timedelta(seconds=5) for e in executions[:3])
    period = timedelta(seconds=10)
    for earlier, later in zip(executions, executions[3:], strict=False):
        assert later.available_at == earlier.available_at + period


def test_throttle_keys_have_their_own_slots(client, make_hook):
    hook = make_hook(throttle={"key": "customer", "limit": 1, "period_seconds": 60})

    for customer in ("a", "b", "a"):
        post(client, hook, {"customer": customer})

    now = timezone.now()
    waiting = Execution.objects.filter(available_at__gt=now + timedelta(seconds=30))
    assert [e.input_data["payload"] for e in waiting] == [{"customer": "a"}]
    assert Execution.objects.count() == 3


def test_another_tenants_trigger_never_joins_a_window(client, make_hook, charlie_membership):
    globex, charlie = charlie_membership.tenant, charlie_membership.user
    hook = make_hook(debounce={"period_seconds": 60})
    other = trigger_create(
        tenant=globex, provider_trigger_id="webhook", name="hook", created_by=charlie,
        config={"debounce": {"period_seconds": 60}},
    )  # fmt: skip

    post(client, hook, {"n": 1})
    post(client, other, {"n": 1})
    post(client, hook, {"n": 2})

    assert sorted(Execution.objects.values_list("tenant_id", "delivery_count")) == sorted(
        [(hook.tenant_id, 2), (globex.pk, 1)]
    )


def test_a_trigger_without_either_fires_as_before(client, make_hook):
    hook = make_hook()

    answers = [post(client, hook, {"n": n}) for n in range(3)]

    assert [a.status_code for a in answers] == [202] * 3
    assert list(Execution.objects.values_list("delivery_count", flat=True)) == [1, 1, 1]
    assert not Execution.objects.filter(debounce_key__isnull=False).exists()


# -- with real workers and a real Beat (its periodic dispatch pass hands over what is due) ----


def test_a_burst_on_one_key_runs_once_with_the_last_payload_on_a_real_engine(
    client, make_hook, start_engine, wait_for
):
    start_engine("beat")
    start_engine("worker")
    hook = make_hook(debounce={"key": "customer", "period_seconds": 2})

    answers = [post(client, hook, {"customer": "c1", "n": n}) for n in range(50)]

    assert {a.status_code for a in answers} == {202}
    wait_for(
        lambda: Execution.objects.filter(status=ExecutionStatus.COMPLETED).exists(),
        timeout=60,
        message="the debounced run did not complete",
    )
    (execution,) = Execution.objects.all()
    assert execution.input_data["payload"] == {"customer": "c1", "n": 49}
    assert execution.delivery_count == 50
    assert execution.started_at >= execution.available_at


def test_a_throttle_on_a_real_engine_starts_three_a_window_and_loses_none(
    client, make_hook, start_engine, wait_for
):
    start_engine("beat")
    start_engine("worker")
    hook = make_hook(throttle={"limit": 3, "period_seconds": 4})

    for n in range(7):
        post(client, hook, {"n": n})

    done = ExecutionStatus.COMPLETED
    wait_for(
        lambda: Execution.objects.filter(status=done).count() == 7,
        timeout=90,
        message="not every throttled run completed",
    )
    executions = list(Execution.objects.order_by("available_at", "id"))
    assert [e.input_data["payload"]["n"] for e in executions] == list(range(7))
    first_window_ends = executions[0].available_at + timedelta(seconds=4)
    assert sum(e.started_at < first_window_ends for e in executions) == 3
    assert all(e.started_at >= e.available_at for e in executions)


def test_the_frontend_api_shows_the_count_on_the_execution(alice_client, client, make_hook):
    hook = make_hook(debounce={"period_seconds": 60, "mode": "leading"})
    execution_id = post(client, hook, {"n": 0}).json()["execution_id"]
    post(client, hook, {"n": 1})

    shown = alice_client.get(f"/api/triggers/{hook.pk}/executions").json()

    rows = shown["items"] if isinstance(shown, dict) else shown
    assert [(r["execution_id"], r["delivery_count"]) for r in rows] == [(execution_id, 2)]


def test_a_polls_items_are_keyed_on_the_item(acme, make_trigger):
    from executions.choices import ExecutionType
    from executions.services.firing import execution_fire

    trigger = make_trigger(
        acme, "on_new_item", provider_id="rss",
        config={"url": "https://example.com/feed.xml",
                "debounce": {"key": "author", "period_seconds": 60}},
    )  # fmt: skip

    for n, author in enumerate(["ada", "bob", "ada"]):
        execution_fire(
            trigger=trigger, execution_type=ExecutionType.POLLING,
            input_data={"item_id": str(n), "item": {"author": author, "n": n}},
            idempotency_key=str(n),
        )  # fmt: skip

    shown = sorted(
        (e.input_data["item"]["author"], e.input_data["item"]["n"], e.delivery_count)
        for e in Execution.objects.all()
    )
    assert shown == [("ada", 2, 2), ("bob", 1, 1)]
