"""Polling with real processes: two Celery Beats claim the polls, a Celery worker polls a feed
served on 127.0.0.1 while it gains items, for the RSS and the JSON provider; a worker killed
between fetch and commit loses nothing and, restarted, fires nothing twice."""

import threading
import time
from collections import Counter

import psycopg
import pytest

from executions.models import Execution
from polling.models import PollingState
from tests.conftest import engine_environment
from tests.polling.conftest import KINDS

ENGINE = {
    "POLLING_MIN_INTERVAL_SECONDS": "1",
    "ALLOW_PRIVATE_OUTBOUND": "1",
    "SCHEDULER_MAX_SLEEP_SECONDS": "1",
}


def fired(trigger) -> Counter:
    return Counter(
        Execution.objects.filter(trigger=trigger).values_list("idempotency_key", flat=True)
    )


def cursor_of(trigger):
    return PollingState.objects.values_list("cursor", flat=True).get(trigger_id=trigger.pk)


@pytest.mark.parametrize("kind", KINDS)
def test_two_beats_and_a_worker_fire_each_new_item_exactly_once(
    kind, start_engine, wait_for, feed_server, make_polling
):
    server = feed_server(kind)
    server.add(3)
    trigger, _ = make_polling(server)  # every second
    start_engine("beat", **ENGINE)
    start_engine("beat", **ENGINE)
    start_engine("worker", CONCURRENCY="2", **ENGINE)
    wait_for(lambda: cursor_of(trigger), timeout=30, message="no first poll")
    expected = []

    # The waits are generous: on SQLite, two Beats and a worker take turns at one file's lock,
    # and a slow VM once took longer than 20 s for three polls (CI, 2026-12-07).
    for batch in (2, 1, 3, 2):  # the feed gains items between polls
        expected += server.add(batch)
        count = len(expected)
        wait_for(lambda n=count: sum(fired(trigger).values()) >= n, timeout=60)
    polls = len(server.requests)
    wait_for(lambda: len(server.requests) >= polls + 3, timeout=60)  # three more polls
    started = time.monotonic()
    before = len(server.requests)
    time.sleep(4)
    rate = (len(server.requests) - before) / (time.monotonic() - started)

    assert fired(trigger) == Counter(expected)  # each new item once, none of the backlog
    assert rate <= 1.5, rate  # one poll a second with two Beats, not two
    assert PollingState.objects.get(trigger_id=trigger.pk).last_status == "ok"


@pytest.mark.postgresql_only  # holds the row lock from a second psycopg connection
@pytest.mark.parametrize("kind", KINDS)
def test_a_poller_killed_between_fetch_and_commit_loses_nothing_and_fires_once(
    kind, start_engine, wait_for, feed_server, make_polling
):
    server = feed_server(kind)
    trigger, _ = make_polling(server)
    start_engine("beat", **ENGINE)
    worker = start_engine("worker", CONCURRENCY="1", **ENGINE)
    wait_for(lambda: cursor_of(trigger), timeout=30, message="no first poll")
    cursor = cursor_of(trigger)

    # The next fetch is held at the server; meanwhile the test takes the trigger's row lock,
    # so the worker, once it has its answer, waits at the commit — then it is killed.
    server.hold = threading.Event()
    new = server.add(3)
    asked = len(server.requests)
    wait_for(lambda: len(server.requests) > asked, timeout=20, message="no poll after the add")
    dsn = engine_environment()["DATABASE_URL"]
    with psycopg.connect(dsn) as locker:
        locker.execute("SELECT 1 FROM triggers_trigger WHERE id = %s FOR UPDATE", [trigger.pk])
        server.hold.set()
        with psycopg.connect(dsn, autocommit=True) as watcher:
            wait_for(
                lambda: watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ).fetchone()[0],
                timeout=20,
                message="the worker never reached the commit",
            )
        worker.kill()
        locker.rollback()
    server.hold = None

    assert not Execution.objects.filter(trigger=trigger).exists()
    assert cursor_of(trigger) == cursor
    start_engine("worker", CONCURRENCY="1", **ENGINE)
    wait_for(lambda: sum(fired(trigger).values()) >= 3, timeout=30, message="nothing fired")
    polls = len(server.requests)
    wait_for(lambda: len(server.requests) >= polls + 3, timeout=20)
    assert fired(trigger) == Counter(new)
