"""A feed that gains items between polls, served for real on 127.0.0.1 — as RSS or as a JSON
API — and polling triggers of acme's project reading it."""

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest

from polling.models import PollingState
from providers.services import project_trigger_create
from triggers.services import trigger_enable

KINDS = ("rss", "http")
TRIGGER_IDS = {"rss": "on_new_item", "http": "on_new_json_item"}
EPOCH = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class FeedServer:
    """``/feed`` answers the items, newest first, with an ETag (a matching If-None-Match is
    a 304). ``failing = (status, headers)`` answers that instead; ``hold`` (an Event) keeps
    each request waiting until it is set, ``delay`` seconds more; ``requests`` records each
    request's headers."""

    def __init__(self, kind: str):
        self.kind = kind
        self.items: list[dict] = []
        self.failing: tuple[int, dict] | None = None
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                owner.requests.append({k.lower(): v for k, v in self.headers.items()})
                if owner.hold is not None:
                    owner.hold.wait(30)
                time.sleep(owner.delay)
                status, headers, body = owner.answer(self.path, self.headers)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/feed"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def add(self, n: int = 1, *, published: datetime | None = None) -> list[str]:
        """``n`` new items, each a minute after the newest (or at ``published``)."""
        with self.lock:
            added = []
            for _ in range(n):
                number = len(self.items) + 1
                when = published or EPOCH + timedelta(minutes=number)
                self.items.append(
                    {"id": f"item-{number}", "title": f"Item {number}", "published": when}
                )
                added.append(f"item-{number}")
            return added

    def body(self) -> tuple[str, bytes]:
        with self.lock:
            newest_first = sorted(self.items, key=lambda i: i["published"], reverse=True)
        if self.kind == "http":
            items = [
                {"id": i["id"], "title": i["title"], "published": i["published"].isoformat()}
                for i in newest_first
            ]
            return "application/json", json.dumps({"data": {"items": items}}).encode()
        entries = "".join(
            f"<item><guid>{escape(i['id'])}</guid><title>{escape(i['title'])}</title>"
            f"<link>https://example.com/{i['id']}</link>"
            f"<pubDate>{format_datetime(i['published'], usegmt=True)}</pubDate></item>"
            for i in newest_first
        )
        rss = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Test feed</title>'
            f"<link>https://example.com/</link>{entries}</channel></rss>"
        )
        return "application/rss+xml", rss.encode()

    def answer(self, path: str, headers) -> tuple[int, dict, bytes]:
        if self.failing is not None:
            status, extra = self.failing
            return status, {"Content-Type": "text/plain", **extra}, b"source trouble"
        content_type, body = self.body()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": content_type, "ETag": etag}, body

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server():
    servers = []

    def start(kind: str) -> FeedServer:
        server = FeedServer(kind)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def polling_settings(settings):
    """The feed is on 127.0.0.1; a trigger may poll every second."""
    settings.ALLOW_PRIVATE_OUTBOUND = True
    settings.POLLING_MIN_INTERVAL_SECONDS = 1
    return settings


def source_config(kind: str, url: str) -> dict:
    config = {"url": url, "polling_frequency": 1000}
    if kind == "http":
        config.update(items_path="data.items", id_field="id", order_field="published")
    return config


@pytest.fixture
def make_polling(acme_project, alice, polling_settings):
    """make_polling(server, enabled=True, connection=None, **config) -> (trigger, key)."""

    def make(server: FeedServer, *, enabled: bool = True, connection=None, **config):
        trigger, key = project_trigger_create(
            project=acme_project, provider_id=server.kind,
            trigger_id=TRIGGER_IDS[server.kind],
            trigger_config={**source_config(server.kind, server.url), **config},
            connection_id=str(connection.pk) if connection else None, user=alice,
        )  # fmt: skip
        return (trigger_enable(trigger=trigger) if enabled else trigger), key

    return make


def polling_state(trigger) -> PollingState:
    """The trigger's polling state as stored now."""
    return PollingState.objects.get(trigger_id=trigger.pk)
