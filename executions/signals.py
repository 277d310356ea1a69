"""Signals apps above this one subscribe to, so the engine never imports from them.

Dependency direction: triggers <- executions <- polling (docs/architecture.md).
"""

from django.dispatch import Signal

# Sent by the Beat scheduler (executions/beat.py) on every tick, after the cron pass. A
# receiver does the work it has due (the poller claims the due polls and hands them to
# workers: polling/receivers.py) and returns the seconds until it next has some (None:
# nothing armed); Beat sleeps until the earliest answer. A receiver that raises is logged
# and asked again a second later.
beat_tick = Signal()
