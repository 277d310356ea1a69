"""Polls against a real feed on 127.0.0.1 that gains items between polls, for the RSS and the
JSON provider alike: each new item fires once, a poll that fails or is cut short changes
nothing, a rate limit delays the next poll, failures freeze the trigger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from executions.choices import ExecutionType
from executions.models import Execution
from executions.services import firing
from polling import services
from polling.choices import PollStatus
from polling.services import polls
from tests.polling.conftest import KINDS, polling_state
from triggers.choices import TriggerStatus
from triggers.services import trigger_enable, trigger_update

pytestmark = pytest.mark.parametrize("kind", KINDS)


def poll(trigger):
    report = services.trigger_poll(trigger_id=trigger.pk)
    trigger.refresh_from_db()
    return report


def fired_items() -> list[str]:
    return list(Execution.objects.order_by("id").values_list("idempotency_key", flat=True))


def test_over_five_polls_each_new_item_fires_exactly_once(kind, feed_server, make_polling):
    server = feed_server(kind)
    server.add(3)  # there before the trigger: its backlog
    trigger, _ = make_polling(server)
    expected = []

    first = poll(trigger)  # sets the cursor, fires none of the backlog
    expected += server.add(2)
    second = poll(trigger)
    third = poll(trigger)  # nothing new: a 304 to the conditional request
    expected += server.add(1)
    fourth = poll(trigger)
    expected += server.add(3)
    fifth = poll(trigger)

    assert [len(r.fired) for r in (first, second, third, fourth, fifth)] == [0, 2, 0, 1, 3]
    assert fired_items() == expected  # each once, oldest first
    assert server.requests[2]["if-none-match"]
    execution = Execution.objects.get(idempotency_key="item-4")
    assert execution.execution_type == ExecutionType.POLLING
    assert execution.input_data["item_id"] == "item-4"
    assert execution.input_data["item"]["title"] == "Item 4"
    assert execution.input_data["source"]["url"] == server.url
    state = polling_state(trigger)
    assert state.cursor["last_item_id"] == "item-9"
    assert (state.last_status, state.failures) == (PollStatus.OK, 0)


def test_the_first_poll_may_fire_the_newest_items(kind, feed_server, make_polling):
    server = feed_server(kind)
    server.add(5)
    trigger, _ = make_polling(server, initial_items=2)

    poll(trigger)

    assert fired_items() == ["item-4", "item-5"]


def test_a_poll_cut_short_between_fetch_and_commit_stores_nothing_and_loses_nothing(
    kind, feed_server, make_polling, monkeypatch, django_capture_on_commit_callbacks
):
    server = feed_server(kind)
    server.add(2)
    trigger, _ = make_polling(server)
    poll(trigger)
    cursor = polling_state(trigger).cursor
    new = server.add(3)
    real_fire, calls = polls.execution_fire, []

    def fire_then_die(**kwargs):
        calls.append(kwargs["idempotency_key"])
        if len(calls) == 2:
            raise SystemExit("worker killed")  # after one execution was stored
        return real_fire(**kwargs)

    monkeypatch.setattr(polls, "execution_fire", fire_then_die)
    with django_capture_on_commit_callbacks() as published, pytest.raises(SystemExit):
        poll(trigger)
    trigger.refresh_from_db()

    assert (Execution.objects.count(), published) == (0, [])  # rolled back, nothing sent
    assert polling_state(trigger).cursor == cursor
    monkeypatch.setattr(polls, "execution_fire", real_fire)
    assert len(poll(trigger).fired) == 3
    assert len(poll(trigger).fired) == 0
    assert fired_items() == new


def test_an_item_fired_already_is_a_duplicate_not_a_second_execution(
    kind, feed_server, make_polling
):
    server = feed_server(kind)
    trigger, _ = make_polling(server)
    poll(trigger)
    server.add(2)
    firing.execution_fire(
        trigger=trigger, execution_type=ExecutionType.POLLING, idempotency_key="item-1"
    )  # as if an earlier poll stored it and its cursor were lost

    report = poll(trigger)

    assert (len(report.fired), report.duplicates) == (1, 1)
    assert sorted(fired_items()) == ["item-1", "item-2"]


def test_a_failing_poll_leaves_the_cursor_as_it_was(kind, feed_server, make_polling):
    server = feed_server(kind)
    server.add(2)
    trigger, _ = make_polling(server)
    poll(trigger)
    cursor = polling_state(trigger).cursor
    new = server.add(2)
    server.failing = (500, {})

    report = poll(trigger)

    assert report.status == PollStatus.FAILED and "answered 500" in report.result
    state = polling_state(trigger)
    assert state.cursor == cursor and not Execution.objects.exists()
    assert (state.last_status, state.failures) == (PollStatus.FAILED, 1)
    assert "answered 500" in state.last_result
    assert state.next_poll_at >= timezone.now() + timedelta(seconds=1)  # backed off
    server.failing = None
    poll(trigger)
    assert fired_items() == new and polling_state(trigger).failures == 0


def test_a_429_with_retry_after_delays_the_next_poll(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server)  # polls every second
    poll(trigger)
    server.failing = (429, {"Retry-After": "30"})

    before = timezone.now()
    report = poll(trigger)

    assert report.status == PollStatus.THROTTLED
    state = polling_state(trigger)
    delay = (state.next_poll_at - before).total_seconds()
    assert 29 <= delay <= 31, delay
    assert (state.last_status, state.failures) == (PollStatus.THROTTLED, 0)
    assert "Retry-After: 30 s" in state.last_result


def test_repeated_failures_freeze_the_trigger_with_the_error(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server, max_failure_count=3)
    server.failing = (503, {})

    for _ in range(3):
        poll(trigger)

    assert trigger.status == TriggerStatus.FAILED
    assert trigger.error_message.startswith("Frozen after 3 consecutive failed polls; the last")
    assert "answered 503" in trigger.error_message
    assert services.trigger_poll(trigger_id=trigger.pk).status == services.SKIPPED
    assert polling_state(trigger).next_poll_at is None  # frozen: out of the poll due index
    state = polling_state(trigger_enable(trigger=trigger))
    assert (state.failures, state.next_poll_at is not None) == (0, True)


def test_a_limit_defers_items_to_a_later_poll(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server)
    poll(trigger)
    trigger.max_executions_per_hour = 2
    trigger.save(update_fields=["max_executions_per_hour"])
    server.add(3)

    report = poll(trigger)

    assert (len(report.fired), report.deferred) == (2, 1)
    assert "left for a later poll: Over the limit of 2" in report.result
    Execution.objects.update(created_at=timezone.now() - timedelta(hours=2))  # the hour passes
    assert len(poll(trigger).fired) == 1
    assert not server.requests[-1].get("if-none-match")  # the deferred item was read again
    assert fired_items() == ["item-1", "item-2", "item-3"]


def test_a_poll_of_a_trigger_switched_off_meanwhile_stores_nothing(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server)
    poll(trigger)
    server.add(1)
    trigger_update(trigger=trigger, status=TriggerStatus.INACTIVE)

    assert services.trigger_poll(trigger_id=trigger.pk).status == services.SKIPPED
    assert not Execution.objects.exists()


def test_a_new_source_starts_the_cursor_over(kind, feed_server, make_polling):
    first, second = feed_server(kind), feed_server(kind)
    first.add(1)
    second.add(4)
    trigger, _ = make_polling(first)
    poll(trigger)

    config = {**trigger.config, "url": second.url}
    trigger = trigger_update(trigger=trigger, config=config, config_is_whole=True)

    assert polling_state(trigger).cursor is None
    report = poll(trigger)
    assert report.fired == () and "First poll" in report.result


def test_a_repeated_poll_message_for_a_poll_done_is_skipped(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server)
    due = timezone.now()
    poll(trigger)

    report = services.trigger_poll(trigger_id=trigger.pk, due_at=due)

    assert report.status == services.SKIPPED and len(server.requests) == 1


def test_the_connection_headers_reach_the_source(kind, feed_server, make_polling, acme):
    from accounts.services import credential_create

    server = feed_server(kind)
    connection = credential_create(
        tenant=acme, name="feed key", value='{"X-Api-Key": "k-123"}', provider_id=kind
    )
    trigger, _ = make_polling(server, connection=connection)

    poll(trigger)

    assert server.requests[0]["x-api-key"] == "k-123"


def test_a_filter_passes_items_it_does_not_want_and_counts_them(kind, feed_server, make_polling):
    server = feed_server(kind)
    trigger, _ = make_polling(server, filter="item_id != 'item-2'")
    poll(trigger)  # the first poll sets the cursor
    server.add(3)

    report = poll(trigger)

    assert fired_items() == ["item-1", "item-3"]
    assert "1 filtered out" in report.result
    assert trigger.filtered_count == 1
    assert polling_state(trigger).cursor["last_item_id"] == "item-3"  # passed, not refetched


def test_a_source_whose_host_is_no_dns_name_fails_its_own_poll_only(
    kind, feed_server, make_polling
):
    server = feed_server(kind)
    server.add(1)
    good, _ = make_polling(server)
    bad, _ = make_polling(server, url="http://example..com/feed")
    services.triggers_poll(polls=[(good.pk, None), (bad.pk, None)])  # the good one's cursor
    server.add(2)

    reports = {
        r.trigger_id: r for r in services.triggers_poll(polls=[(bad.pk, None), (good.pk, None)])
    }

    assert reports[bad.pk].status == PollStatus.FAILED
    assert "Cannot resolve" in polling_state(bad).last_result
    assert reports[good.pk].status == PollStatus.OK and len(reports[good.pk].fired) == 2
