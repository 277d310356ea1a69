"""Polling triggers in the admin: the trigger's poll state as an inline of its page (cursor,
last poll: time, status, result; next poll and failure streak), the next and last poll in
the list, and a "poll now" action — added to the trigger admin, which triggers/admin.py
registers once."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from executions.services.firing import FiringRefused
from polling import services
from polling.choices import PollStatus
from polling.models import PollingState
from triggers.admin import ObjectAction, TriggerAdmin
from triggers.choices import Delivery


class PollingStateInline(admin.StackedInline):
    """Read-only: the state moves only with polls (polling.services writes it)."""

    model = PollingState
    can_delete = False
    extra = 0
    max_num = 1
    verbose_name = verbose_name_plural = "poll state"
    fields = [
        "interval_seconds",
        "next_poll_at",
        "last_polled_at",
        "last_status",
        "last_result",
        "failures",
        "cursor_shown",
    ]
    readonly_fields = fields

    @staticmethod
    def shown_for(trigger) -> bool:
        return trigger.delivery == Delivery.POLLING

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="cursor")
    def cursor_shown(self, state) -> str:
        if state.cursor is None:
            return "- (no poll yet: the first sets it)"
        return format_html("<pre>{}</pre>", json.dumps(state.cursor, indent=2)[:20000])


@admin.display(description="next poll", ordering="polling_state__next_poll_at")
def next_poll_at(trigger):
    state = PollingState.of(trigger)
    return state.next_poll_at if state else None


@admin.display(description="last poll", ordering="polling_state__last_polled_at")
def last_poll(trigger) -> str:
    state = PollingState.of(trigger)
    if state is None or not state.last_polled_at:
        return "-"
    label = PollStatus(state.last_status).label if state.last_status else ""
    return f"{label}: {state.last_result}"[:120]


@admin.action(description="Poll selected polling triggers now")
def poll_now(modeladmin, request, queryset):
    for trigger in queryset:
        try:
            report = services.trigger_poll_now(trigger=trigger)
        except (FiringRefused, ValueError) as refused:
            modeladmin.message_user(request, f"{trigger}: not polled. {refused}", messages.ERROR)
            continue
        level = messages.SUCCESS if report.status == PollStatus.OK else messages.WARNING
        modeladmin.message_user(request, f"{trigger}: {report.result}", level)


TriggerAdmin.extend(
    actions=[poll_now],
    object_actions=[
        ObjectAction("poll_now", "Poll now", lambda trigger: trigger.delivery == Delivery.POLLING)
    ],
    inlines=[PollingStateInline],
    list_display_after=("next_fire_at", [next_poll_at, last_poll]),
    list_select_related=["polling_state"],
)
