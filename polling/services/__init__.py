"""Every write of the polling app, by subject; the tasks, the admin and the APIs call these.

- ``polls``: one poll of a trigger, on a worker — fetch, then the new items' executions and
  the new cursor in one transaction; "poll now" and test samples;
- ``state``: the only writer of ``PollingState`` — what a poll records, the claim's leases,
  and the state kept with every trigger write (polling/receivers.py).
"""

from polling.services.polls import (
    SKIPPED,
    PollReport,
    trigger_poll,
    trigger_poll_now,
    trigger_samples,
    triggers_poll,
)

__all__ = [
    "SKIPPED",
    "PollReport",
    "trigger_poll",
    "trigger_poll_now",
    "trigger_samples",
    "triggers_poll",
]
