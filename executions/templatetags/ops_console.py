"""``{% ops_dashboard %}``: the ops dashboard on the admin's home (templates/admin/index.html),
scoped to the tenants the viewer may see (executions/console.py)."""

from django import template
from django.utils import timezone

from accounts.admin_scope import visible_tenant_ids
from executions import console
from triggers.choices import TriggerStatus

register = template.Library()


@register.inclusion_tag("admin/ops_dashboard.html", takes_context=True)
def ops_dashboard(context):
    request = context["request"]
    board = console.dashboard(tenant_ids=visible_tenant_ids(request.user), now=timezone.now())
    top = max(board.by_status.values(), default=0) or 1
    return {
        "board": board,
        "bars": [
            (status, count, round(100 * count / top)) for status, count in board.by_status.items()
        ],
        "failure_percent": (
            None if board.failure_rate is None else round(100 * board.failure_rate, 1)
        ),
        "FAILED": TriggerStatus.FAILED,
        "csrf_token": context.get("csrf_token"),
        "can_change_triggers": request.user.has_perm("triggers.change_trigger"),
    }
