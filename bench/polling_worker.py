"""The Celery app for bench/polling.py's workers: the service's own (config.celery), plus a
note of each poll task's start — (trigger id, due time, start time) for each of its polls —
in a file per process under BENCH_POLL_LOG, for the poll start lag. Never used by the
service."""

import os
import time

from celery.signals import task_prerun

from config.celery import app  # noqa: F401 - the app `celery -A bench.polling_worker` runs

_files: dict[int, object] = {}


@task_prerun.connect
def _note_poll_start(sender=None, args=None, **kwargs):
    if sender is None or sender.name != "polling.tasks.poll_triggers" or not args:
        return
    started = time.time()
    log = _files.get(os.getpid())
    if log is None:
        path = os.path.join(os.environ["BENCH_POLL_LOG"], f"starts-{os.getpid()}.log")
        log = _files[os.getpid()] = open(path, "a", buffering=1)  # noqa: SIM115
    log.write("".join(f"{pk} {due} {started:.6f}\n" for pk, due in args[0]))
