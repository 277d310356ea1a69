"""The frontend API's ``GET /api/alert-episodes`` query parameters."""

import django_filters

from alerts.choices import TENANT_EVENTS, AlertEvent
from alerts.models import AlertEpisode
from api.filtering import StrictFilterForm

TENANT_EVENT_CHOICES = [(e.value, e.label) for e in AlertEvent if e in TENANT_EVENTS]


class FrontendEpisodeFilterSet(django_filters.FilterSet):
    """``open``: ``true`` the open episodes, ``false`` the closed ones; ``event``: one event's
    (a tenant's four; the service's own episodes are never a tenant's)."""

    open = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_open",
        label="true: the open episodes only; false: the closed ones only.",
    )
    event = django_filters.ChoiceFilter(
        choices=TENANT_EVENT_CHOICES, label="One event's episodes only."
    )

    class Meta:
        model = AlertEpisode
        fields = ["open", "event"]
        form = StrictFilterForm

    def filter_open(self, queryset, name, value):
        return queryset.filter(closed_at__isnull=value == "true")
