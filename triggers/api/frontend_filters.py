import django_filters
from django.db.models import F

from api.filtering import StrictFilterForm
from triggers.api.frontend_enums import (
    FRONTEND_TO_STATUSES,
    TYPE_TO_CATALOG,
    FrontendTriggerStatus,
    FrontendTriggerType,
)
from triggers.models import Trigger

FRONTEND_SORT_FIELDS = ("created_at", "last_executed_at", "execution_count")


class FrontendTriggerFilterSet(django_filters.FilterSet):
    """The frontend API's ``status``, ``trigger_type``, ``sort_by`` and ``order`` query parameters.

    Default order: newest first. Triggers never run sort last whichever the order.
    """

    status = django_filters.TypedChoiceFilter(
        choices=FrontendTriggerStatus.choices, coerce=int, method="filter_status"
    )
    trigger_type = django_filters.ChoiceFilter(
        choices=FrontendTriggerType.choices, method="filter_trigger_type"
    )
    sort_by = django_filters.ChoiceFilter(
        choices=[(name, name) for name in FRONTEND_SORT_FIELDS], method="keep"
    )
    order = django_filters.ChoiceFilter(choices=[("asc", "asc"), ("desc", "desc")], method="keep")

    class Meta:
        model = Trigger
        fields = ["status", "trigger_type"]
        form = StrictFilterForm

    def filter_status(self, queryset, name, value):
        return queryset.filter(status__in=FRONTEND_TO_STATUSES[value])

    def filter_trigger_type(self, queryset, name, value):
        entry = TYPE_TO_CATALOG[value]
        return queryset.filter(provider_id=entry.provider_id, provider_trigger_id=entry.trigger_id)

    def keep(self, queryset, name, value):
        return queryset  # applied together in filter_queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        sort_by = self.form.cleaned_data.get("sort_by") or "created_at"
        descending = (self.form.cleaned_data.get("order") or "desc") == "desc"
        if Trigger._meta.get_field(sort_by).null:  # never run: last either way
            column = F(sort_by)
            key = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
        else:  # a plain order, so that an index in that order (tenant, -created_at, -id) serves it
            key = f"-{sort_by}" if descending else sort_by
        tiebreak = "-id" if descending else "id"
        return queryset.order_by(key, tiebreak)
