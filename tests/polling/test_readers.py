"""How a source's answer becomes items, and how it is fetched: feeds and JSON lists (pure),
the connection's headers, and real requests to servers on 127.0.0.1 through the guard."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from accounts.encryption import encrypt_secret
from polling.errors import PollFailed
from polling.feeds import read_feed
from polling.fetch import fetch
from polling.json_items import read_json_items
from polling.sources import connection_headers

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
<item><guid isPermaLink="false">n-2</guid><title>Second</title><link>https://e.x/2</link>
<pubDate>Tue, 01 Dec 2026 10:02:00 GMT</pubDate><category>a</category>
<enclosure url="https://e.x/2.mp3" type="audio/mpeg" length="42"/></item>
<item><title>No guid</title><link>https://e.x/1</link>
<pubDate>Tue, 01 Dec 2026 10:01:00 +0100</pubDate></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Atom news</title><id>urn:feed</id><updated>2026-12-01T10:00:00Z</updated>
<entry><id>urn:entry:1</id><title>One</title><updated>2026-12-01T10:00:00Z</updated>
<content type="text">Body one</content></entry></feed>"""


def test_rss_entries_are_items_with_id_and_published_time():
    feed = read_feed(RSS, content_type="application/rss+xml")

    assert feed.title == "News"
    second, first = feed.items
    assert (second.key, second.order) == ("n-2", "2026-12-01T10:02:00Z")
    assert second.payload["tags"] == ["a"]
    assert second.payload["enclosures"][0]["href"] == "https://e.x/2.mp3"
    assert (first.key, first.order) == ("https://e.x/1", "2026-12-01T09:01:00Z")  # the link


def test_atom_entries_are_ordered_by_their_updated_time():
    (entry,) = read_feed(ATOM).items

    assert (entry.key, entry.order, entry.payload["content"]) == (
        "urn:entry:1", "2026-12-01T10:00:00Z", "Body one",
    )  # fmt: skip


@pytest.mark.parametrize("body", [b"<html><body>Not a feed</body></html>", b"", b"{}"])
def test_an_answer_that_is_no_feed_fails_the_poll(body):
    with pytest.raises(PollFailed, match="not an RSS or Atom feed"):
        read_feed(body)


def test_a_body_naming_a_local_file_is_not_read_as_that_file(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes(RSS)

    with pytest.raises(PollFailed):
        read_feed(str(secret).encode())


def test_text_postgresql_cannot_store_is_replaced():
    body = RSS.replace(b"<title>Second</title>", b"<title>Se&#xD800;cond</title>")

    assert "\ud800" not in json.dumps(read_feed(body).items[0].payload, ensure_ascii=False)


def test_json_items_follow_the_paths():
    body = json.dumps({"data": {"orders": [
        {"meta": {"id": 7}, "at": "2026-12-01T10:00:00Z"}, {"meta": {"id": None}},
        {"meta": {"id": "x"}, "at": {"not": "scalar"}},
    ]}}).encode()  # fmt: skip

    found = read_json_items(body, items_path="data.orders", id_field="meta.id", order_field="at")

    assert [(i.key, i.order, i.position) for i in found] == [
        ("7", "2026-12-01T10:00:00Z", 0), ("x", None, 2),
    ]  # fmt: skip
    assert found[0].payload == {"meta": {"id": 7}, "at": "2026-12-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("body", "kwargs", "message"),
    [(b"not json", {}, "not JSON"),
     (b'{"items": {"a": 1}}', {"items_path": "items"}, "leads to dict, not a list"),
     (b'{"a": []}', {"items_path": "items"}, "leads to nothing"),
     (b'[{"name": "x"}]', {"id_field": "id"}, "No item of the list has an id"),
     (b'[{"id": "a\\u0000b"}]', {}, "cannot be stored")],
)  # fmt: skip
def test_a_json_answer_that_is_not_a_list_of_items_fails_the_poll(body, kwargs, message):
    with pytest.raises(PollFailed, match=message):
        read_json_items(body, **kwargs)


def test_an_empty_json_list_is_no_items():
    assert read_json_items(b"[]") == []


@pytest.mark.parametrize(
    ("value", "headers"),
    [('{"X-Api-Key": "k1", "Host": "evil"}', {"x-api-key": "k1"}),
     ("X-Api-Key: k1\nAccept-Language: de", {"x-api-key": "k1", "accept-language": "de"}),
     ("tok_123", {"authorization": "Bearer tok_123"})],
)  # fmt: skip
def test_a_connection_gives_headers(value, headers):
    connection = SimpleNamespace(encrypted_value=encrypt_secret(value))

    assert connection_headers(connection) == headers


# -- fetching, for real ---------------------------------------------------------------------------


class Routes:
    """A server on 127.0.0.1 answering each path as ``routes[path]`` says: (status, headers,
    body) or a callable taking the request's headers."""

    def __init__(self, routes: dict):
        self.seen: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.seen.append((self.path, headers))
                route = routes[self.path]
                status, extra, body = route(headers) if callable(route) else route
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                if callable(body):
                    body(self.wfile)
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def routes(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True
    started = []

    def start(table: dict) -> Routes:
        server = Routes(table)
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.shutdown()


def get(url, **kwargs):
    options = {"headers": {}, "private_headers": {}, "timeout": 2, "max_bytes": 10_000}
    return fetch(url, **{**options, **kwargs})


def test_a_private_address_is_refused_unless_allowed(routes, settings):
    server = routes({"/": (200, {}, b"[]")})
    settings.ALLOW_PRIVATE_OUTBOUND = False

    with pytest.raises(PollFailed, match="private or reserved address"):
        get(server.base + "/")
    assert server.seen == []


def test_redirects_are_followed_and_secrets_stay_with_their_origin(routes):
    other = routes({"/feed": (200, {}, b"[1]")})
    first = routes({
        "/old": (301, {"Location": "/new"}, b""),
        "/new": (302, {"Location": other.base + "/feed"}, b""),
    })  # fmt: skip

    fetched = get(first.base + "/old", private_headers={"Authorization": "Bearer s"})

    assert (fetched.status, fetched.body, fetched.url) == (200, b"[1]", other.base + "/feed")
    assert first.seen[1][1]["authorization"] == "Bearer s"
    assert "authorization" not in other.seen[0][1]


def test_too_many_redirects_fail(routes):
    server = routes({"/loop": (302, {"Location": "/loop"}, b"")})

    with pytest.raises(PollFailed, match="More than 5 redirects"):
        get(server.base + "/loop")


def test_a_redirect_to_another_scheme_is_refused(routes):
    server = routes({"/": (302, {"Location": "file:///etc/passwd"}, b"")})

    with pytest.raises(PollFailed, match="not an http"):
        get(server.base + "/")


def test_an_answer_larger_than_the_limit_fails(routes):
    server = routes({"/big": (200, {}, b"x" * 20_000)})

    with pytest.raises(PollFailed, match="larger than 10000 bytes"):
        get(server.base + "/big")


def test_a_source_that_drips_its_answer_is_cut_at_the_timeout(routes):
    def drip(out):
        for _ in range(30):
            out.write(b"x")
            out.flush()
            time.sleep(0.1)

    server = routes({"/slow": (200, {"Content-Length": "30"}, drip)})

    started = time.monotonic()
    with pytest.raises(PollFailed, match="did not answer within 1 s"):
        get(server.base + "/slow", timeout=1)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("status", "headers", "counted", "retry_after"),
    [(429, {"Retry-After": "30"}, False, 30.0), (503, {"Retry-After": "5"}, True, 5.0),
     (500, {}, True, None), (404, {}, True, None)],
)  # fmt: skip
def test_refusals_say_whether_they_count_and_how_long_to_wait(
    routes, status, headers, counted, retry_after
):
    server = routes({"/": (status, headers, b"nope")})

    with pytest.raises(PollFailed) as failed:
        get(server.base + "/")

    assert (failed.value.counted, failed.value.retry_after) == (counted, retry_after)
    assert str(status) in failed.value.message
