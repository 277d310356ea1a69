"""The ``schedule`` provider: a cron trigger, as a provider catalog entry."""

from triggers.catalog.builtin import CRON_SCHEMA
from triggers.catalog.entry import TriggerType
from triggers.choices import Delivery

ON_SCHEDULE = TriggerType(
    "schedule", "on_schedule", "On schedule", "Fires on a cron schedule.", Delivery.SCHEDULE,
    {"schedule": "cron_expression", "timezone": "timezone"},
    instructions="Give a cron expression and, if it is not UTC, the time zone it is read in.",
    icon="calendar-clock", tags=("schedule",), config_schema=CRON_SCHEMA,
)  # fmt: skip

ENTRIES = (ON_SCHEDULE,)
