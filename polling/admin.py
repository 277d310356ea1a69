"""Polling triggers in the admin: each trigger's cursor, last poll (time, status, result),
next poll and failure streak, and a "poll now" action, added to the trigger admin
(triggers/admin.py registers it once)."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from executions.services.firing import FiringRefused
from polling import services
from triggers.admin import ObjectAction, TriggerAdmin
from triggers.choices import Delivery, PollStatus

_POLLING_FIELDS = [
    "poll_interval_seconds",
    "next_poll_at",
    "last_polled_at",
    "last_poll_status",
    "last_poll_result",
    "poll_failures",
]


@admin.display(description="last poll", ordering="last_polled_at")
def last_poll(trigger) -> str:
    if not trigger.last_polled_at:
        return "-"
    label = PollStatus(trigger.last_poll_status).label if trigger.last_poll_status else ""
    return f"{label}: {trigger.last_poll_result}"[:120]


@admin.display(description="cursor")
def cursor(trigger) -> str:
    if trigger.cursor_data is None:
        return "- (no poll yet: the first sets it)"
    return format_html("<pre>{}</pre>", json.dumps(trigger.cursor_data, indent=2)[:20000])


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
    list_display_after=("next_fire_at", ["next_poll_at", last_poll]),
)
TriggerAdmin.readonly_fields = [*TriggerAdmin.readonly_fields, *_POLLING_FIELDS, cursor]
TriggerAdmin.exclude = ["cursor_data"]  # shown read-only as "cursor": it moves only with a poll
