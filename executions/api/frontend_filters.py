"""The frontend API's ``GET /api/executions`` query parameters."""

import uuid

import django_filters
from django.db.models import Q

from api.filtering import StrictFilterForm
from executions.api.frontend_enums import FRONTEND_TO_STATUS, FrontendExecutionStatus
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.selectors import executions_with_status

_MAX_ID = 2**63 - 1  # a bigint primary key's largest value


class FrontendExecutionFilterSet(django_filters.FilterSet):
    """``trigger_id`` is a trigger's id on any surface: the frontend API's integer, the agent
    or provider API's uuid, or the management API's string id. ``status`` is the frontend
    API's integer (0-4) or the status name (``pending`` …)."""

    trigger_id = django_filters.CharFilter(method="filter_trigger")
    execution_type = django_filters.ChoiceFilter(choices=ExecutionType.choices)
    status = django_filters.ChoiceFilter(
        choices=[(str(v), label) for v, label in FrontendExecutionStatus.choices]
        + list(ExecutionStatus.choices),
        method="filter_status",
    )

    class Meta:
        model = Execution
        fields = ["trigger_id", "execution_type", "status"]
        form = StrictFilterForm

    def filter_trigger(self, queryset, name, value):
        if value.isascii() and value.isdigit():  # ASCII: "²" is a digit to str.isdigit
            number = int(value)  # past the column's range, no trigger has it
            return queryset.filter(trigger_id=number) if number <= _MAX_ID else queryset.none()
        try:
            return queryset.filter(trigger__uuid=uuid.UUID(value))
        except ValueError:
            return queryset.filter(Q(trigger__public_id=value))

    def filter_status(self, queryset, name, value):
        status = FRONTEND_TO_STATUS[int(value)] if value.isdigit() else value
        return executions_with_status(queryset, [status])
