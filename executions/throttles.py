"""How often a person may "run now" one trigger: at most ``THROTTLE_RUN_NOW`` (``"10/min"``).

A run costs an agent's time and tokens; a button pressed in a loop (or a script calling the
management API's rerun) must not queue hundreds. Counted per trigger, whoever asks, in
Django's cache (Redis when the broker is Redis), with DRF's rate throttle.
"""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class RunNowThrottle(SimpleRateThrottle):
    scope = "run_now"

    def __init__(self, trigger_id: int):
        self.trigger_id = trigger_id
        super().__init__()

    def get_rate(self) -> str:
        return settings.THROTTLE_RUN_NOW

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.trigger_id}


def run_now_wait(trigger_id: int) -> int | None:
    """None, and this run counted, when the trigger may run now; else seconds to wait."""
    throttle = RunNowThrottle(trigger_id)
    if throttle.allow_request(None, None):
        return None
    # Newest first: the window frees when the num_requests-th newest run leaves it.
    oldest_counted = throttle.history[throttle.num_requests - 1]
    return max(1, math.ceil(oldest_counted + throttle.duration - throttle.now))
