"""``{% open_alerts %}``: the ops dashboard's "Open alerts" on the admin's home
(templates/admin/index.html), scoped as the admin scopes episodes (alerts/admin.py): a
tenant's staff see their tenants' episodes, the service's own (no tenant) are a superuser's.
It lives here, not in executions' ``{% ops_dashboard %}``: executions never imports alerts."""

from django import template
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.admin_scope import visible_tenant_ids
from alerts import selectors
from alerts.models import AlertEpisode

register = template.Library()


@register.inclusion_tag("admin/open_alerts.html", takes_context=True)
def open_alerts(context):
    request = context["request"]
    # Whom the episodes' own list lets in (view or change permission): nobody else gets it.
    if not admin.site.get_model_admin(AlertEpisode).has_view_permission(request):
        return {"shown": False}
    found = selectors.open_alerts(tenant_ids=visible_tenant_ids(request.user))
    return {
        "shown": True,
        "episodes": found.episodes,
        "more": found.more,
        "all_open_url": reverse("admin:alerts_alertepisode_changelist") + "?closed_at__isempty=1",
        "now": timezone.now(),
    }
