"""Every change to an execution, by subject; views, admin actions and tasks call these.

- ``firing``: a trigger fires — the firing rules (executions/policies.py) decide, the
  execution is stored, then enqueued; "run now" and test runs;
- ``lifecycle``: pending -> running -> completed / failed / cancelled, retries, and what a
  finished execution changes on its trigger;
- ``sweeper``: nothing is lost — executions no worker took are enqueued again, running
  ones whose worker died are retried or failed;
- ``backfill``: a schedule trigger's past slots between two times, fired on purpose, each
  exactly once.

The cron scheduler (executions/scheduler.py) fires slots through the same rules.
"""
