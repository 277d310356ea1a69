"""Handing executions to the workers: the one path every firing takes to the broker.

An execution row is always committed before its message is published (``on_commit``),
so a worker never looks for a row that is not there yet, and a rolled-back firing sends
nothing. Publishing may fail (the broker is down): that is logged, not raised, because
the row is already safe; the sweeper publishes it again later (docs/scheduling.md).

Event firings (webhooks, Slack events) come one per request, hundreds a second. Their run
messages are not published by the request itself but handed to this process's
``BatchPublisher``, which publishes what arrived within ``EXECUTION_PUBLISH_BATCH_MS`` in one
batch from a background thread: a round trip to Redis per message costs the machine more CPU
(client, kernel and Redis) than anything else a webhook does. The sender's 2xx still comes
only after the commit; a message waits at most those milliseconds more; one that a killed
process never sent is the sweeper's, as after a broker outage.
"""

import atexit
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction

from executions import broker

logger = logging.getLogger(__name__)


def enqueue_on_commit(
    execution_ids: Iterable[uuid.UUID], *, eta: datetime | None = None, batched: bool = False
) -> None:
    """Publish the executions' run messages once the transaction commits.

    ``batched`` (event firings): through the process's BatchPublisher, unless
    EXECUTION_PUBLISH_BATCH_MS is 0; never with an ``eta``.
    """
    ids = list(execution_ids)
    if not ids:
        return
    if batched and eta is None and settings.EXECUTION_PUBLISH_BATCH_MS > 0:
        transaction.on_commit(lambda: batch_publisher.submit(ids))
    else:
        transaction.on_commit(lambda: enqueue(ids, eta=eta))


def enqueue(execution_ids: Iterable[uuid.UUID], *, eta: datetime | None = None) -> int:
    """Publish one run message per execution; returns how many were published.

    The batch goes out together (one LPUSH on Redis, executions/broker.py); a failed batch
    publishes none of it, and the sweeper enqueues those executions later.
    """
    ids = [str(execution_id) for execution_id in execution_ids]
    try:
        broker.publish_run_messages(ids, eta=eta)
    except Exception:  # the broker's error types depend on the transport
        logger.warning(
            "Broker unavailable: %d executions left pending for the sweeper",
            len(ids),
            exc_info=True,
        )
        return 0
    return len(ids)


class BatchPublisher:
    """Publishes run messages from a background thread, batching what arrives together.

    ``submit`` only appends; the thread, started by the first submit in each process, wakes,
    lets ``linger()`` seconds of further messages gather, then publishes them all with
    ``publish`` (one call). ``flush`` publishes what is waiting at once: at interpreter exit,
    so a process that stops gracefully sends everything, and in tests.
    """

    def __init__(self, *, linger: Callable[[], float], publish: Callable[[list], int]):
        self.linger = linger
        self.publish = publish
        self._reset()
        # A forked child gets a copy of the pending ids (its parent publishes those) and
        # no thread: it starts afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()  # guards _pending and _thread
        self._publishing = threading.Lock()  # one batch at a time, in order
        self._wake = threading.Event()
        self._pending: list[uuid.UUID] = []
        self._thread: threading.Thread | None = None

    def submit(self, execution_ids: Iterable[uuid.UUID]) -> None:
        with self._lock:
            self._pending.extend(execution_ids)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="run-message-publisher", daemon=True
                )
                self._thread.start()
        if not self._wake.is_set():  # set() takes a lock and notifies, even when set
            self._wake.set()

    def flush(self) -> int:
        """Publish everything waiting now (after a batch in flight); returns how many."""
        with self._publishing:
            with self._lock:
                batch, self._pending = self._pending, []
            return self.publish(batch) if batch else 0

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.linger())
            # Cleared before the flush: a message submitted during it wakes the next round.
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # ``publish`` logs broker errors; this must never die
                logger.exception("Publishing run messages failed")


batch_publisher = BatchPublisher(
    linger=lambda: settings.EXECUTION_PUBLISH_BATCH_MS / 1000, publish=enqueue
)
atexit.register(batch_publisher.flush)
