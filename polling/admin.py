"""Polling triggers in the admin: each trigger's cursor, last poll (time, status, result),
next poll and failure streak, and a "poll now" action. The trigger admin is registered again
with them, as executions/admin.py does with "run now"."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from executions.admin import TriggerWithRunsAdmin
from executions.services.firing import FiringRefused
from polling import services
from triggers.choices import Delivery, PollStatus
from triggers.models import Trigger

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
    exclude = ["cursor_data"]  # shown read-only as "cursor": it moves only with a poll

    def get_object_actions(self, trigger) -> list[tuple[str, str]]:
        """The trigger page's buttons, with "Poll now" for a polling trigger."""
        actions = super().get_object_actions(trigger)
        if trigger.delivery == Delivery.POLLING:
            return [("poll_now", "Poll now"), *actions]
        return actions

    @admin.display(description="last poll", ordering="last_polled_at")
    def last_poll(self, trigger) -> str:
        if not trigger.last_polled_at:
            return "-"
        label = PollStatus(trigger.last_poll_status).label if trigger.last_poll_status else ""
        return f"{label}: {trigger.last_poll_result}"[:120]

    @admin.display(description="cursor")
    def cursor(self, trigger) -> str:
        if trigger.cursor_data is None:
            return "- (no poll yet: the first sets it)"
        return format_html("<pre>{}</pre>", json.dumps(trigger.cursor_data, indent=2)[:20000])

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
