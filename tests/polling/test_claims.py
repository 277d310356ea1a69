"""Beat's part: the due polls are claimed from the poll due index with SKIP LOCKED (two
claimers split them, none twice), each trigger's next poll is its lease, and one poll task
per claim reaches the broker after the commit."""

import base64
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from executions.signals import beat_tick
from polling import claims, receivers
from polling.claims import POLL_TASK
from polling.models import PollingState
from tests.conftest import BrokerQueues
from tests.polling.conftest import polling_state
from triggers.services import trigger_disable


@pytest.fixture
def poll_queue():
    client = BrokerQueues()
    client.purge(settings.POLLING_QUEUE)
    yield client
    client.purge(settings.POLLING_QUEUE)


def queued_polls(client) -> list:
    """The (trigger id, due time) polls in the poll queue's tasks."""
    polls = []
    for message in client.messages(settings.POLLING_QUEUE):
        assert message["headers"]["task"] == POLL_TASK
        (task_polls,) = json.loads(base64.b64decode(message["body"]))[0]
        assert len(task_polls) <= settings.POLLING_POLLS_PER_TASK
        polls.extend(tuple(poll) for poll in task_polls)
    return polls


def test_due_polls_are_claimed_leased_and_sent_to_workers(
    feed_server, make_polling, poll_queue, django_capture_on_commit_callbacks
):
    server = feed_server("rss")
    due, _ = make_polling(server)
    off, _ = make_polling(server)
    trigger_disable(trigger=off)
    later, _ = make_polling(server)
    PollingState.objects.filter(trigger=later).update(
        next_poll_at=timezone.now() + timedelta(hours=1)
    )
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        claimed = claims.claim_due_polls(now=now)

    assert [pk for pk, _ in claimed] == [due.pk]
    due_at = claimed[0][1]
    assert polling_state(due).next_poll_at == due_at + timedelta(seconds=1)  # its lease
    assert queued_polls(poll_queue) == [(due.pk, due_at.isoformat())]
    assert claims.claim_due_polls(now=now) == []


def test_the_minimum_interval_bounds_every_trigger(
    feed_server, make_polling, polling_settings, django_capture_on_commit_callbacks
):
    polling_settings.POLLING_MIN_INTERVAL_SECONDS = 60
    trigger, _ = make_polling(feed_server("rss"))  # asks for a poll every second

    with django_capture_on_commit_callbacks():
        ((_, due_at),) = claims.claim_due_polls()

    trigger.refresh_from_db()
    assert polling_state(trigger).next_poll_at == due_at + timedelta(seconds=60)


def test_a_rate_limited_trigger_is_not_claimed_before_its_retry_after(
    feed_server, make_polling, django_capture_on_commit_callbacks
):
    from polling import services

    server = feed_server("http")
    trigger, _ = make_polling(server)
    server.failing = (429, {"Retry-After": "30"})
    services.trigger_poll(trigger_id=trigger.pk)
    now = timezone.now()

    with django_capture_on_commit_callbacks():
        too_early = claims.claim_due_polls(now=now + timedelta(seconds=25))
        in_time = claims.claim_due_polls(now=now + timedelta(seconds=31))

    assert (too_early, [pk for pk, _ in in_time]) == ([], [trigger.pk])


def test_two_claimers_at_once_split_the_due_polls(
    transactional_db, race, feed_server, make_polling, poll_queue
):
    server = feed_server("rss")
    triggers = [make_polling(server)[0] for _ in range(60)]
    now = timezone.now()

    results = race(lambda: claims.claim_due_polls(now=now, batch_size=7), 2)

    claimed = [pk for result in results for pk, _ in result]
    assert all(isinstance(result, list) for result in results), results
    assert sorted(claimed) == sorted(t.pk for t in triggers)  # each once
    assert len(queued_polls(poll_queue)) == 60


def test_beat_ticks_claim_polls_and_sleep_until_the_next(
    feed_server, make_polling, django_capture_on_commit_callbacks
):
    trigger, _ = make_polling(feed_server("rss"))

    with django_capture_on_commit_callbacks():
        answers = dict(beat_tick.send(sender=None))
    trigger.refresh_from_db()

    sleep = answers[receivers._claim_due_polls]
    assert receivers.TICK_SECONDS <= sleep <= 1.0
    assert polling_state(trigger).next_poll_at > timezone.now()


def test_beat_sleeps_its_longest_without_polling_triggers(db):
    assert dict(beat_tick.send(sender=None))[receivers._claim_due_polls] is None


def test_a_tasks_polls_are_fetched_together_and_committed_each_on_its_own(
    feed_server, make_polling
):
    from executions.models import Execution
    from polling import services
    from polling.tasks import poll_triggers

    fresh, failing, quiet = feed_server("rss"), feed_server("http"), feed_server("rss")
    first, _ = make_polling(fresh)
    second, _ = make_polling(failing)
    third, _ = make_polling(quiet)
    off, _ = make_polling(quiet)
    trigger_disable(trigger=off)
    services.triggers_poll(polls=[(first.pk, None), (second.pk, None), (third.pk, None)])
    fresh.add(2)
    failing.failing = (500, {})
    fresh.delay = failing.delay = quiet.delay = 0.3  # every answer takes 0.3 s

    started = timezone.now()
    statuses = poll_triggers.run(
        [[t.pk, None] for t in (first, second, third, off)] + [[10**9, None]]
    )
    took = (timezone.now() - started).total_seconds()

    assert statuses == {
        str(first.pk): "ok", str(second.pk): "failed", str(third.pk): "ok",
        str(off.pk): "skipped", str(10**9): "skipped",
    }  # fmt: skip
    assert took < 0.75  # the three requests waited together, not one after another
    assert Execution.objects.filter(trigger=first).count() == 2
    third.refresh_from_db()
    assert polling_state(third).last_result == "No new items (unchanged)."
