"""Signals apps above this one subscribe to, so triggers never imports from them.

Dependency direction: accounts <- triggers <- executions <- webhooks (docs/architecture.md).
"""

from django.dispatch import Signal

# Sent by Trigger.clean() with ``trigger``; a receiver returns {field: message} for each
# setting of the trigger it owns that is invalid (or {} / None), which clean() raises with
# its own findings. Validation that needs a higher app (the webhook pipeline compiling a
# trigger's webhook settings) runs here, so every writer — API, admin — gets it.
trigger_validating = Signal()
