"""Alerts: notification channels (email, a Slack incoming webhook, a generic webhook signed
with Standard Webhooks), the episodes they are told about — a trigger frozen as failed, a
poll or a watched folder gone stale, executions waiting too long, the scheduler's or the
watcher's heartbeat lost — and the sending, retried on a worker (docs/ops-console.md,
"Alerts").

The app observes every app below it (triggers, executions, polling, the watcher), so it sits
above them all, just under ``config`` (docs/architecture.md); none of them imports it.
"""
