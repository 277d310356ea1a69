"""Polling triggers in the admin: each trigger's cursor, last poll (time, status, result),
next poll and failure streak, and a "poll now" action. The trigger admin is registered again
with them, as executions/admin.py does with "run now"."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from executions.admin import TriggerWithRunsAdmin
from executions.services.firing import FiringRefused
from polling import services
from polling.choices import PollStatus
from polling.models import PollingState
from triggers.choices import Delivery
from triggers.models import Trigger

# Each shown read-only from the trigger's PollingState (polling.services writes it).
_POLLING_FIELDS = [
    "poll_interval_seconds",
    "next_poll_at",
    "last_polled_at",
    "last_poll_status",
    "last_poll_result",
    "poll_failures",
    "cursor",
]

admin.site.unregister(Trigger)


@admin.register(Trigger)
class TriggerWithPollsAdmin(TriggerWithRunsAdmin):
    actions = ["poll_now", *TriggerWithRunsAdmin.actions]

    list_display = [
        *TriggerWithRunsAdmin.list_display[
            : TriggerWithRunsAdmin.list_display.index("next_fire_at") + 1
        ],
        "next_poll_at",
        "last_poll",
        *TriggerWithRunsAdmin.list_display[
            TriggerWithRunsAdmin.list_display.index("next_fire_at") + 1 :
        ],
    ]
    readonly_fields = [*TriggerWithRunsAdmin.readonly_fields, *_POLLING_FIELDS]

    def get_object_actions(self, trigger) -> list[tuple[str, str]]:
        """The trigger page's buttons, with "Poll now" for a polling trigger."""
        actions = super().get_object_actions(trigger)
        if trigger.delivery == Delivery.POLLING:
            return [("poll_now", "Poll now"), *actions]
        return actions

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("polling_state")

    @admin.display(description="last poll", ordering="polling_state__last_polled_at")
    def last_poll(self, trigger) -> str:
        state = _state(trigger)
        if state is None or not state.last_polled_at:
            return "-"
        label = PollStatus(state.last_status).label if state.last_status else ""
        return f"{label}: {state.last_result}"[:120]

    @admin.display(description="cursor")
    def cursor(self, trigger) -> str:
        state = _state(trigger)
        if state is None or state.cursor is None:
            return "- (no poll yet: the first sets it)"
        return format_html("<pre>{}</pre>", json.dumps(state.cursor, indent=2)[:20000])

    @admin.display(description="poll interval seconds")
    def poll_interval_seconds(self, trigger):
        return _state_value(trigger, "interval_seconds")

    @admin.display(description="next poll at", ordering="polling_state__next_poll_at")
    def next_poll_at(self, trigger):
        return _state_value(trigger, "next_poll_at")

    @admin.display(description="last polled at")
    def last_polled_at(self, trigger):
        return _state_value(trigger, "last_polled_at")

    @admin.display(description="last poll status")
    def last_poll_status(self, trigger):
        status = _state_value(trigger, "last_status")
        return PollStatus(status).label if status else None

    @admin.display(description="last poll result")
    def last_poll_result(self, trigger):
        return _state_value(trigger, "last_result")

    @admin.display(description="poll failures")
    def poll_failures(self, trigger):
        return _state_value(trigger, "failures")

    @admin.action(description="Poll selected polling triggers now")
    def poll_now(self, request, queryset):
        for trigger in queryset:
            try:
                report = services.trigger_poll_now(trigger=trigger)
            except (FiringRefused, ValueError) as refused:
                self.message_user(request, f"{trigger}: not polled. {refused}", messages.ERROR)
                continue
            level = messages.SUCCESS if report.status == PollStatus.OK else messages.WARNING
            self.message_user(request, f"{trigger}: {report.result}", level)


def _state(trigger: Trigger) -> PollingState | None:
    try:
        return trigger.polling_state
    except PollingState.DoesNotExist:  # not a polling trigger
        return None


def _state_value(trigger: Trigger, field: str):
    state = _state(trigger)
    return None if state is None else getattr(state, field)
