"""An RSS or Atom answer as items, with feedparser (docs/polling.md), pure.

Each entry is an item: its id is the entry's id (``guid``, Atom ``id``), else its link,
else a digest of its title, date and summary; its order value is its published time, else
its updated time (ISO 8601, UTC). The execution's input carries the entry's fields as JSON:
text with what PostgreSQL cannot store replaced (api/storable.py).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from api.storable import storable_text
from polling.cursors import MAX_ITEMS, Item, item_key
from polling.errors import PollFailed


@dataclass(frozen=True)
class Feed:
    title: str | None
    items: list[Item]


def read_feed(body: bytes, *, content_type: str = "") -> Feed:
    """The feed in ``body``; PollFailed when it is not an RSS or Atom feed.

    Ids are taken as written: no base URL resolves a relative one, so an id does not change
    when the feed's URL does (a redirect), and no entry fires again for it."""
    # A file object, never bytes or text: given those, feedparser would try them as a local
    # file name (or a URL) first — the source could make it read this machine's files.
    try:
        parsed = feedparser.parse(
            io.BytesIO(_CHARACTER_REFERENCE.sub(_storable_reference, body)),
            response_headers={"content-type": content_type or "application/xml"},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:  # feedparser's loose parser is not proof against every input
        raise PollFailed(f"The feed cannot be parsed: {type(error).__name__}: {error}") from None
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise PollFailed(
            "The answer is not an RSS or Atom feed" + (f": {problem}" if problem else ".")
        )
    items = []
    for position, entry in enumerate(parsed.entries[:MAX_ITEMS]):
        payload = _entry(entry)
        raw_id = payload["id"] or payload["link"] or _digest(payload)
        key = item_key(raw_id)
        if key is not None:
            order = payload["published"] or payload["updated"]
            items.append(Item(key=key, payload=payload, order=order, position=position,
                              raw_id=raw_id))  # fmt: skip
    title = parsed.feed.get("title") if isinstance(parsed.get("feed"), dict) else None
    return Feed(title=_text(title), items=items)


# A numeric character reference; one to a surrogate or NUL crashes feedparser's loose parser
# (it encodes the character as UTF-8), so such references become U+FFFD first.
_CHARACTER_REFERENCE = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});")


def _storable_reference(match: re.Match) -> bytes:
    text = match.group(1)
    value = int(text[1:], 16) if text[:1] in (b"x", b"X") else int(text)
    return (
        b"&#xFFFD;"
        if value == 0 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF
        else match.group()
    )


def _entry(entry) -> dict[str, Any]:
    field = entry.get  # FeedParserDict's: "enclosures" and others are derived
    content = [part.get("value") for part in field("content") or [] if part.get("value")]
    return {
        "id": _text(field("id")),
        "title": _text(field("title")),
        "link": _text(field("link")),
        "summary": _text(field("summary")),
        "content": _text("\n\n".join(content)) if content else None,
        "published": _time(field("published_parsed")),
        # dict.get: as parsed (FeedParserDict maps a missing "updated" to "published").
        "updated": _time(dict.get(entry, "updated_parsed")),
        "author": _text(field("author")),
        "tags": [_text(tag.get("term")) for tag in field("tags") or [] if tag.get("term")],
        "enclosures": [
            {"href": _text(e.get("href")), "type": _text(e.get("type")),
             "length": _text(e.get("length"))}
            for e in field("enclosures") or []
        ],
    }  # fmt: skip


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return storable_text(str(value))


def _time(parsed) -> str | None:
    """feedparser's UTC struct_time as ISO 8601 (``…Z``)."""
    if not parsed:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(payload: dict[str, Any]) -> str | None:
    parts = [payload.get(key) or "" for key in ("title", "published", "summary")]
    if not any(parts):
        return None
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
