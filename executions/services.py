"""Every change to an execution, in one place."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from triggers.models import Trigger


@transaction.atomic
def execution_create_manual(
    *, trigger: Trigger, requested_by: AbstractBaseUser | None = None
) -> Execution:
    """A pending manual execution ("run now" / "test"), whatever the trigger's status.

    Testing is allowed on an inactive trigger, so a trigger can be tried before it is
    switched on; limits do not apply to a manual run.
    """
    return Execution.objects.create(
        tenant_id=trigger.tenant_id,
        trigger=trigger,
        execution_type=ExecutionType.MANUAL,
        status=ExecutionStatus.PENDING,
        input_data={"test": True, "requested_by": getattr(requested_by, "username", None)},
        max_retries=trigger.max_retries,
    )
