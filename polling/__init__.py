"""Polling triggers (docs/polling.md): a source without webhooks — an RSS or Atom feed, a JSON
API — polled on a schedule, each new item firing once.

- ``claims``: Beat's part (on its ``beat_tick``): claim the due polls from the poll due
  index with ``SKIP LOCKED`` and hand each to a worker, never polling in Beat;
- ``services``: one poll on a worker — fetch, then in one transaction the new items'
  executions and the new cursor; a failure changes nothing but the failure streak (which
  freezes the trigger at the threshold) and the next poll's time;
- ``sources``, ``fetch``, ``feeds``, ``json_items``: what is fetched and how an answer becomes
  items; ``cursors`` and ``rules``: pure — which items are new, when the next poll is.
"""
