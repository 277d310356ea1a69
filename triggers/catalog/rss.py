"""RSS and Atom feeds, polled: a trigger fires once per new entry (docs/polling.md)."""

from triggers.catalog.entry import TriggerType, string_property
from triggers.choices import Delivery
from triggers.polling_config import POLLING_PROPERTIES

URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"

ON_NEW_ITEM = TriggerType(
    "rss", "on_new_item", "New feed item",
    "Fires once for each new entry of an RSS or Atom feed, polled.",
    Delivery.POLLING,
    instructions=(
        "Give the feed's URL (RSS 0.9x, 1.0, 2.0 or Atom). The first poll only notes the "
        "entries already there; each later entry fires once, with the entry as its input. "
        "A connection is optional: its value is sent as request headers (a private feed)."
    ),
    icon="rss", tags=("feed", "rss", "atom", "polling"),
    config_schema={
        "type": "object",
        "properties": {
            "url": string_property(
                "Feed URL", "The RSS or Atom feed's http(s) URL.",
                pattern=URL_PATTERN, examples=["https://blog.example.com/feed.xml"],
            ),
            **POLLING_PROPERTIES,
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    cursor_keys=("url",),
    sample_payload={
        "id": "https://blog.example.com/posts/42",
        "title": "Release 4.2",
        "link": "https://blog.example.com/posts/42",
        "summary": "What is new in 4.2.",
        "published": "2026-12-01T09:30:00Z",
        "updated": None,
        "author": "Ada",
        "tags": ["releases"],
    },
)  # fmt: skip

ENTRIES = (ON_NEW_ITEM,)
