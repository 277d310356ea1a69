"""Reactions to accounts' events: a gone agent or connection makes its triggers stale
(a gone signing secret: webhooks/receivers.py)."""

from django.dispatch import receiver

from accounts.signals import agent_deletion_requested, credential_deleting
from triggers.models import Trigger
from triggers.services import triggers_mark_stale


@receiver(agent_deletion_requested)
def _agent_deletion_requested(sender, agent, **kwargs) -> None:
    triggers_mark_stale(
        triggers=Trigger.objects.filter(agent=agent),
        reason=f"Agent '{agent.public_id}' is pending deletion.",
    )


@receiver(credential_deleting)
def _credential_deleting(sender, credential, **kwargs) -> None:
    triggers_mark_stale(
        triggers=Trigger.objects.filter(connection=credential),
        reason=f"Connection '{credential.name}' was deleted.",
    )
