"""The BatchPublisher: event firings ask for one dispatch pass together, none is left behind."""

import subprocess
import sys
import threading
import uuid

import pytest
from django.conf import settings

from executions import dispatch
from executions.choices import ExecutionType
from executions.dispatch import BatchPublisher
from executions.inserts import insert_executions
from executions.services import firing
from tests.conftest import ROOT, BrokerQueues, engine_environment, queued_executions


class GatedPublish:
    """A publish callable that records each batch and holds the first one until released."""

    def __init__(self):
        self.batches: list[list] = []
        self.first_taken = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: list) -> int:
        self.batches.append(list(batch))
        if len(self.batches) == 1:
            self.first_taken.set()
            self.release.wait(timeout=10)
        return len(batch)


def test_it_publishes_what_arrives_during_a_batch_as_one_batch():
    publish = GatedPublish()
    publisher = BatchPublisher(linger=lambda: 0, publish=publish)

    publisher.submit(["a"])
    assert publish.first_taken.wait(timeout=10)
    threads = [threading.Thread(target=publisher.submit, args=([f"b{i}"],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    publish.release.set()
    publisher.flush()  # waits for the batch in flight, then publishes what is left (if any)

    assert publish.batches[0] == ["a"]
    later = [i for batch in publish.batches[1:] for i in batch]
    assert sorted(later) == sorted(f"b{i}" for i in range(20))
    assert len(publish.batches) == 2  # the twenty went out in one batch


def test_batches_that_find_the_queue_full_wait_longer_until_one_does_not():
    publisher = BatchPublisher(linger=lambda: 0.01, publish=lambda batch: None)

    waits = [publisher.next_wait(full=True) for _ in range(6)]

    assert waits == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.16, 0.16])
    assert publisher.next_wait(full=False) == pytest.approx(0.01)  # back to linger


def test_a_submission_that_may_not_wait_ends_the_backoff():
    publish = GatedPublish()  # holds the thread in its first batch while the test runs
    publisher = BatchPublisher(linger=lambda: 0.01, publish=publish)
    publisher.submit(["first"])
    assert publish.first_taken.wait(timeout=10)
    for _ in range(3):
        publisher.next_wait(full=True)

    publisher.submit(["firing"], may_wait=True)
    kept = publisher.next_wait(full=True)
    publisher.submit(["finished"])  # a finished execution: its place is free now
    reset = publisher.next_wait(full=True)
    publish.release.set()
    publisher.flush()

    assert kept == pytest.approx(0.16) and reset == pytest.approx(0.02)


def test_a_failing_publish_does_not_stop_the_thread(caplog):
    published = {"first": threading.Event(), "second": threading.Event()}

    def publish(batch):
        published[batch[0]].set()
        if batch == ["first"]:
            raise RuntimeError("boom")
        return len(batch)

    publisher = BatchPublisher(linger=lambda: 0, publish=publish)
    publisher.submit(["first"])
    assert published["first"].wait(timeout=10)
    publisher.submit(["second"])

    assert published["second"].wait(timeout=10)  # the same thread went on
    assert "Publishing run messages failed" in caplog.text


@pytest.fixture
def test_queue():
    client = BrokerQueues()
    name = settings.CELERY_TASK_DEFAULT_QUEUE
    client.purge(name)
    yield client, name
    client.purge(name)


def _python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with Django set up on this test database and queue."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=engine_environment(EXECUTION_PUBLISH_BATCH_MS="60000"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _waiting_executions(trigger, n: int) -> list[str]:
    """``n`` stored, waiting executions, without the on-commit pass a firing asks for."""
    rows = [
        {
            "execution_id": uuid.uuid4(),
            "tenant_id": trigger.tenant_id,
            "trigger_id": trigger.pk,
            "execution_type": ExecutionType.WEBHOOK,
        }
        for _ in range(n)
    ]
    insert_executions(rows)
    return [str(row["execution_id"]) for row in rows]


@pytest.mark.slow
def test_a_process_that_exits_dispatches_what_was_waiting(
    transactional_db, acme, make_trigger, test_queue
):
    client, name = test_queue
    ids = _waiting_executions(make_trigger(acme, "webhook"), 3)

    # The linger is a minute: only the flush at exit can have sent them.
    ran = _python(f"from executions import dispatch\ndispatch.batch_publisher.submit({ids!r})")

    assert sorted(queued_executions(client, name)) == sorted(ids), ran.stderr


@pytest.mark.slow
def test_a_forked_child_and_its_parent_publish_each_execution_once(
    transactional_db, acme, make_trigger, test_queue
):
    client, name = test_queue
    parent_id, child_id = _waiting_executions(make_trigger(acme, "webhook"), 2)

    result = _python(
        "import os\n"
        "from executions import dispatch\n"
        f"dispatch.batch_publisher.submit([{parent_id!r}])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        f"    dispatch.batch_publisher.submit([{child_id!r}])\n"
        "    dispatch.batch_publisher.flush()\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent done')\n"
    )

    assert "parent done" in result.stdout
    # The child's pass sent both; the parent's exit found none left.
    assert sorted(queued_executions(client, name)) == sorted([parent_id, child_id])


def test_with_batching_off_a_firing_is_published_at_commit(
    transactional_db, acme, make_trigger, test_queue, settings
):
    client, name = test_queue
    settings.EXECUTION_PUBLISH_BATCH_MS = 0
    trigger = make_trigger(acme, "webhook")

    firing.execution_fire(trigger=trigger, execution_type=ExecutionType.WEBHOOK)

    assert client.length(name) == 1
    assert dispatch.batch_publisher.flush() == 0  # nothing went through the batch


def test_with_batching_on_a_firing_is_published_by_the_batch(
    transactional_db, acme, make_trigger, test_queue
):
    client, name = test_queue
    trigger = make_trigger(acme, "webhook")

    fired = firing.execution_fire(trigger=trigger, execution_type=ExecutionType.WEBHOOK)
    dispatch.batch_publisher.flush()

    assert queued_executions(client, name) == [str(fired.execution.execution_id)]
