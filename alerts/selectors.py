"""Reads of the alerts tables for the people who look: the ops dashboard's open alerts
(alerts/templatetags/alert_console.py); the frontend API's episodes (alerts/api/frontend.py)
are listed in the same order.

Episodes newest first (``opened_at``, then ``id``), each list served by an index of
AlertEpisode's: ``alert_episode_open_newest`` (open ones, by tenant) and
``alert_episode_tenant_newest`` (a tenant's, open and closed).
"""

from dataclasses import dataclass

from django.db.models import QuerySet

from alerts.models import AlertEpisode

NEWEST_FIRST = ("-opened_at", "-id")
# The dashboard's module lists this many; the episodes list (filtered to open) has the rest.
OPEN_ALERTS_SHOWN = 20


def episodes_open(*, tenant_ids: list[str] | None) -> QuerySet[AlertEpisode]:
    """The open episodes the viewer may see, newest first: with ``tenant_ids`` those tenants'
    only (never the service's own, which have no tenant); None: every tenant's and the
    service's (a superuser: accounts.admin_scope.visible_tenant_ids)."""
    episodes = AlertEpisode.objects.filter(closed_at__isnull=True).order_by(*NEWEST_FIRST)
    if tenant_ids is not None:
        episodes = episodes.filter(tenant_id__in=tenant_ids)
    return episodes


@dataclass(frozen=True)
class OpenAlerts:
    episodes: list[AlertEpisode]  # the newest OPEN_ALERTS_SHOWN
    more: bool  # more are open than shown


def open_alerts(*, tenant_ids: list[str] | None, shown: int = OPEN_ALERTS_SHOWN) -> OpenAlerts:
    """The newest ``shown`` open episodes the viewer may see (``episodes_open``), and whether
    there are more: one query of ``shown + 1`` rows, no count."""
    episodes = list(episodes_open(tenant_ids=tenant_ids)[: shown + 1])
    return OpenAlerts(episodes=episodes[:shown], more=len(episodes) > shown)
