"""Signals apps above this one subscribe to, so triggers never imports from them.

Dependency direction: accounts <- triggers <- executions <- webhooks (docs/architecture.md).
"""

from django.dispatch import Signal

# Sent by Trigger.clean() with ``trigger``; a receiver returns {field: message} for each
# setting of the trigger it owns that is invalid (or {} / None), which clean() raises with
# its own findings. Validation that needs a higher app (the webhook pipeline compiling a
# trigger's webhook settings) runs here, so every writer — API, admin — gets it.
trigger_validating = Signal()

# Sent by triggers.services inside the writing transaction, once a trigger's row is written by a
# create, an update or a duplicate, with ``trigger`` (as saved), ``created`` and ``before`` (a
# copy of the row as it was read, None when created). The apps above keep the one-to-one tables
# they own for a delivery kind (a polling trigger's state, a webhook's endpoint) from it, so
# triggers never writes them. Also ``kind_settings`` (the settings given that are not Trigger
# fields, by name: a receiver returns the names it took; one no receiver takes is a TypeError)
# and ``copied_from`` (the trigger a duplicate copies, else None).
trigger_saved = Signal()

# Sent by triggers.services inside the writing transaction when a rule moves triggers out of
# ``active`` in bulk (stale, failed, completed), with ``trigger_ids`` and the new ``status``.
triggers_status_changed = Signal()
