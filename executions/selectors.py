from django.db.models import QuerySet

from accounts.models import Tenant
from executions.models import Execution
from triggers.models import Trigger


def execution_list(*, tenant: Tenant) -> QuerySet[Execution]:
    return Execution.objects.filter(tenant=tenant)


def execution_history(*, trigger: Trigger) -> QuerySet[Execution]:
    """A trigger's executions, newest first (served by the trigger-history index)."""
    return Execution.objects.filter(trigger=trigger).order_by("-created_at", "-id")
