"""Issue 19, finding 1, on a real worker: a 1 MiB delivery to a trigger whose task prompt
repeats ``{{ input }}`` 300 times used to make a 300 MiB prompt, take the worker to 1 GiB and
leave the execution running until the sweeper retried it into the same error. Now the worker
stays under WORKER_RSS_BOUND (each of its processes, sampled every 20 ms) and the execution
is ``failed``, with the reason, within a minute."""

import contextlib
import threading
import time

import psutil
from django.conf import settings

from executions.choices import ExecutionStatus
from executions.models import Execution
from triggers.models import Trigger

# Each worker process, parent and pool children alike; an idle one holds about 100 MiB here,
# the one rendering a 1 MiB input once about 20 MiB more.
WORKER_RSS_BOUND = 256 * 1024 * 1024


class PeakMemory:
    """The largest RSS any process of a process tree reached while it was watched."""

    def __init__(self, root_pid: int):
        self.root = psutil.Process(root_pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.is_set():
            for process in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def test_a_1_mib_delivery_to_a_300_fold_prompt_fails_within_a_minute_in_bounded_memory(
    start_worker, wait_for, client, acme, make_trigger
):
    worker = start_worker(CONCURRENCY="1")
    trigger = make_trigger(acme, "webhook", max_retries=3)
    # Stored before the placeholder cap (a save refuses more than 100 placeholders now).
    Trigger.objects.filter(pk=trigger.pk).update(task_prompt="{{ input }}\n" * 300)
    text = "x" * (settings.WEBHOOK_MAX_BODY_BYTES - 64)
    body = b'{"text": "' + text.encode() + b'"}'
    assert len(body) <= settings.WEBHOOK_MAX_BODY_BYTES

    memory = PeakMemory(worker.process.pid)
    sent_at = time.monotonic()
    response = client.post(
        f"/hooks/{trigger.webhook_endpoint.token}", data=body, content_type="application/json"
    )
    assert response.status_code == 202, response.content

    def finished():
        return Execution.objects.filter(status=ExecutionStatus.FAILED).first()

    execution = wait_for(finished, timeout=60, message="not failed within a minute")
    took, peak = time.monotonic() - sent_at, memory.stop()
    print(f"failed after {took:.1f} s; worker peak RSS {peak / 2**20:.0f} MiB")
    assert execution.retry_count == 0
    assert "The task prompt cannot be rendered" in execution.error_message
    assert "larger than 262144 bytes" in execution.error_message
    assert peak < WORKER_RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"
