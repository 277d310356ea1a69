"""Signals other apps subscribe to, so accounts never imports from them.

Dependency direction is accounts <- triggers <- executions (docs/architecture.md);
when an agent or credential goes away, the triggers app marks its triggers stale.
Both are sent inside the service's transaction: receivers' writes commit with it.
"""

from django.dispatch import Signal

# sent with: agent
agent_deletion_requested = Signal()
# sent with: credential (before the row is deleted)
credential_deleting = Signal()
