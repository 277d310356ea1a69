"""What a polling trigger polls: its URL, its headers, how its answer becomes items — one
reader per catalog entry (``rss/on_new_item``, ``http/on_new_json_item``).

The connection (optional) holds headers the source wants, encrypted: its value is a JSON
object of headers, or ``Name: value`` lines, or else a bearer token (``Authorization:
Bearer <value>``). They are sent to the source's own origin only (polling/fetch.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.encryption import decrypt_secret
from polling.cursors import Item
from polling.errors import PollFailed
from polling.feeds import read_feed
from polling.fetch import Fetched
from polling.json_items import read_json_items
from triggers.models import Trigger

_ACCEPT = {
    "rss": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    "http": "application/json, */*;q=0.5",
}
_HEADER_LINE = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$")
# The request's own framing and target: never taken from a connection.
_NOT_FROM_CONNECTION = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Answer:
    items: list[Item]
    title: str | None = None


@dataclass(frozen=True)
class Source:
    url: str
    headers: dict[str, str]
    private_headers: dict[str, str] = field(default_factory=dict)
    read: Callable[[Fetched], Answer] = lambda fetched: Answer([])


def source_for(trigger: Trigger) -> Source:
    """The trigger's source; PollFailed when it cannot be polled as configured."""
    config = trigger.config if isinstance(trigger.config, dict) else {}
    url = config.get("url")
    if not isinstance(url, str) or not url:
        raise PollFailed("The trigger has no url to poll.")
    private = connection_headers(trigger.connection) if trigger.connection_id else {}
    if trigger.provider_id == "rss":

        def read(fetched: Fetched) -> Answer:
            feed = read_feed(fetched.body, content_type=fetched.headers.get("content-type", ""))
            return Answer(feed.items, feed.title)

    elif trigger.provider_id == "http":

        def read(fetched: Fetched) -> Answer:
            return Answer(
                read_json_items(
                    fetched.body,
                    items_path=config.get("items_path") or "@",
                    id_field=config.get("id_field") or "id",
                    order_field=config.get("order_field") or None,
                )
            )

    else:
        raise PollFailed(f"'{trigger.provider_id}/{trigger.provider_trigger_id}' is not polled.")
    return Source(url, {"accept": _ACCEPT[trigger.provider_id]}, private, read)


def connection_headers(connection: Any) -> dict[str, str]:
    """The headers a connection's value gives (module docstring)."""
    try:
        value = decrypt_secret(connection.encrypted_value).strip()
    except Exception:  # a key rotated away: the owner must store the connection again
        raise PollFailed(f"Connection '{connection}' cannot be decrypted.") from None
    headers: dict[str, str] = {}
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise PollFailed(f"Connection '{connection}' is not a JSON object of headers.")
        headers = parsed
    elif all(_HEADER_LINE.match(line) for line in value.splitlines() if line.strip()) and value:
        for line in value.splitlines():
            if line.strip():
                name, header_value = _HEADER_LINE.match(line).groups()
                headers[name] = header_value
    elif value:
        headers = {"Authorization": f"Bearer {value}"}
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _NOT_FROM_CONNECTION}
