"""Run messages published straight to Redis are the messages Celery itself would publish.

executions/broker.py skips ``apply_async`` on Redis for speed; these tests publish the same
execution both ways onto a queue of their own and compare what lands in Redis, so a Celery
or kombu upgrade that changes the message format fails here, not in the workers. That the
workers run such messages is shown by tests/executions/test_engine_worker.py, whose every
execution goes through this path.
"""

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings

from config.celery import app as celery_app
from executions import broker, dispatch
from executions.run_messages import RunMessageFormat
from executions.tasks import run_execution

# Messages straight to Redis (one LPUSH) exist on that broker only.
pytestmark = pytest.mark.redis_only

# Differ on every message, whoever builds it.
PER_MESSAGE = {
    "headers": ("id", "root_id", "origin"),
    "properties": ("correlation_id", "delivery_tag", "reply_to"),
}


@pytest.fixture
def queue(settings):
    """A queue of this test's own on the suite's Redis broker, emptied before and after."""
    name = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-run-messages"
    celery_app.conf.task_default_queue = name
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(name)
    yield client, name
    client.delete(name)
    celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


def _published(client, name) -> list[dict]:
    """The queue's messages, oldest first (workers pop the list's right end)."""
    return [json.loads(raw) for raw in reversed(client.lrange(name, 0, -1))]


def _comparable(message: dict) -> dict:
    message = json.loads(json.dumps(message))
    for part, keys in PER_MESSAGE.items():
        for key in keys:
            message[part].pop(key, None)
    # apply_async names the publisher's time limits; ours leave them to the worker's own
    # settings (its runner's deadline): [None, None].
    message["headers"].pop("timelimit")
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


@pytest.mark.parametrize("eta", [None, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)])
def test_it_publishes_what_apply_async_publishes(queue, eta):
    client, name = queue
    execution_id = str(uuid.uuid4())

    run_execution.apply_async((execution_id,), eta=eta)
    broker.publish_run_messages([execution_id], eta=eta)

    by_celery, by_us = _published(client, name)
    assert _comparable(by_us) == _comparable(by_celery)
    assert by_us["headers"]["timelimit"] == [None, None]
    assert by_us["headers"]["id"] == by_us["headers"]["root_id"]
    assert by_us["properties"]["correlation_id"] == by_us["headers"]["id"]
    assert by_us["properties"]["delivery_tag"] != by_celery["properties"]["delivery_tag"]


def test_a_batch_message_is_what_apply_async_publishes_for_a_list(queue):
    client, name = queue
    batch = [str(uuid.uuid4()) for _ in range(3)]

    run_execution.apply_async((batch,))
    broker.publish_run_messages([batch])

    by_celery, by_us = _published(client, name)
    assert _comparable(by_us) == _comparable(by_celery)
    assert _comparable(by_us)["body"][0] == [batch]


def test_a_batch_is_one_push_in_order_each_with_its_own_task_id(queue):
    client, name = queue
    ids = [str(uuid.uuid4()) for _ in range(5)]

    assert dispatch.enqueue(ids) == 5

    messages = _published(client, name)
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in messages] == [[i] for i in ids]
    assert len({m["headers"]["id"] for m in messages}) == 5


def test_a_broker_that_is_down_is_reported_not_raised(queue, monkeypatch, caplog):
    client, name = queue
    # Celery reads the broker URL from the environment first; nothing listens on port 1.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")

    assert dispatch.enqueue([uuid.uuid4()]) == 0

    assert "left pending, dispatched again later" in caplog.text
    assert client.llen(name) == 0


def test_the_format_is_rebuilt_in_a_forked_process():
    made_here = RunMessageFormat.from_celery(celery_app, run_execution.name)
    from_another_process = RunMessageFormat(**{**made_here.__dict__, "pid": -1})
    broker._formats[made_here.queue] = from_another_process

    rebuilt = broker._run_message_format(celery_app, made_here.queue)

    assert rebuilt is not from_another_process
    assert rebuilt.pid == made_here.pid


def test_encode_fills_in_the_execution_and_the_eta():
    message_format = RunMessageFormat.from_celery(celery_app, run_execution.name)
    eta = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    message = json.loads(message_format.encode("e-1", eta=eta))

    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == (["e-1"], {})
    assert message["headers"]["task"] == "executions.tasks.run_execution"
    assert message["headers"]["eta"] == "2030-01-02T03:04:05+00:00"
    assert message["headers"]["argsrepr"] == "('e-1',)"
    route = message["properties"]["delivery_info"]
    assert route == {"exchange": "", "routing_key": settings.CELERY_TASK_DEFAULT_QUEUE}
