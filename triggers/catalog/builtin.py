"""The built-in types every surface shares: a cron schedule, a webhook, a watched folder."""

from triggers.catalog.entry import TriggerType, string_property
from triggers.choices import Delivery

CRON_SCHEMA = {
    "type": "object",
    "properties": {
        "schedule": string_property(
            "Schedule", "A cron expression: five fields (minute hour day month weekday).",
            examples=["0 9 * * 1-5"],
        ),
        "timezone": string_property(
            "Time zone", "The IANA time zone the schedule is read in (default UTC).",
            examples=["Europe/Berlin"],
        ),
    },
    "required": ["schedule"],
    "additionalProperties": False,
}  # fmt: skip

CRON = TriggerType(
    "builtin", "cron", "Schedule", "Fires on a cron schedule.", Delivery.SCHEDULE,
    {"schedule": "cron_expression", "timezone": "timezone"},
    icon="clock", tags=("schedule",), config_schema=CRON_SCHEMA,
)  # fmt: skip
WEBHOOK = TriggerType(
    "builtin", "webhook", "Webhook", "Fires when its webhook URL is called.", Delivery.WEBHOOK,
    {"path": "webhook_path"},
    icon="webhook", tags=("webhook",),
    config_schema={
        "type": "object",
        "properties": {
            "path": string_property(
                "Path", "A custom path: deliveries to /hooks/p<path> reach the trigger.",
                examples=["/webhook/news"],
            ),
        },
        "additionalProperties": False,
    },
)  # fmt: skip
FILE_SYSTEM = TriggerType(
    "builtin", "file_system", "Watched folder",
    "Fires when a file matching its patterns appears in a watched folder.",
    Delivery.FILE_SYSTEM,
    icon="folder", tags=("files",),
    config_schema={
        "type": "object",
        "properties": {
            "watch_path": string_property(
                "Folder", "An absolute path inside one of FILE_WATCH_ROOTS."
            ),
            "patterns": {
                "type": "array", "title": "Patterns", "items": {"type": "string"},
                "description": "Glob patterns the file's path must match (default *).",
            },
            "events": {
                "type": "array", "title": "Events",
                "items": {"enum": ["created", "modified", "deleted"]},
                "description": "Which changes fire (default created).",
            },
            "recursive": {"type": "boolean", "title": "Recursive",
                          "description": "Watch the folders inside it too."},
            "settle_seconds": {"type": "number", "title": "Settle seconds",
                               "description": "How long a file must be unchanged to fire."},
        },
        "required": ["watch_path"],
        "additionalProperties": False,
    },
)  # fmt: skip

ENTRIES = (CRON, WEBHOOK, FILE_SYSTEM)
