"""Hostile and careless webhook bodies (issue 19, finding 2): every one is a 4xx in
problem+json naming the problem, and nothing is stored — never a 500 a sender would retry.

The same set is sent to a running gunicorn by the fuzz pass (docs/api.md); here it goes
through Django's handler with the test client."""

import gzip
import hashlib
import hmac
import time

import pytest

from executions.models import Execution
from triggers.services import trigger_create

NESTED = "[" * 10_000 + "]" * 10_000

# (name, body, content type, query string, expected status, expected code, words in detail)
HOSTILE = [
    ("nul in a string", b'{"a": "x\\u0000"}', "application/json", "", 400, "unstorable_value",
     ["NUL", "/a"]),
    ("nul in a key", b'{"k\\u0000": 1}', "application/json", "", 400, "unstorable_value",
     ["key", "NUL"]),
    ("lone surrogate", b'{"a": ["\\ud800"]}', "application/json", "", 400, "unstorable_value",
     ["surrogate", "/a/0"]),
    # Issue 25: a surrogate's own UTF-8 bytes, which json.loads would take ("surrogatepass").
    ("raw surrogate bytes", b'{"a": "\xed\xa0\x80"}', "application/json", "", 400,
     "invalid_json", ["utf-8", "0xed"]),
    ("1e999", b'{"n": 1e999}', "application/json", "", 400, "unstorable_value",
     ["not finite", "/n"]),
    ("NaN", b'{"n": NaN}', "application/json", "", 400, "invalid_json", ["NaN"]),
    ("10,000-deep", NESTED.encode(), "application/json", "", 400, "unstorable_value",
     ["deeper than 100"]),
    ("nul in the query", b"{}", "application/json", "q=%00", 400, "unstorable_value",
     ["query", "NUL"]),
    ("nul in a form", b"a=%00", "application/x-www-form-urlencoded", "", 400,
     "unstorable_value", ["NUL", "/a"]),
    ("surrogate in a form payload", b"payload=%7B%22a%22%3A%22%5Cud800%22%7D",
     "application/x-www-form-urlencoded", "", 400, "unstorable_value", ["surrogate"]),
    ("nul in text", b"a\x00b", "text/plain", "", 400, "unstorable_value", ["NUL"]),
    ("not utf-8", b"\xff\xfe", "text/plain", "", 400, "invalid_body", ["UTF-8"]),
    ("gzip", gzip.compress(b'{"a": 1}'), "application/json", "", 400, "invalid_json", []),
    ("xml", b"<a/>", "application/xml", "", 415, "unsupported_media_type", []),
    ("no content type", b'{"a": 1}', "", "", 415, "unsupported_media_type", []),
    ("multipart", b"--x\r\n", "multipart/form-data; boundary=x", "", 415,
     "unsupported_media_type", []),
]  # fmt: skip


@pytest.fixture
def hook(acme, alice):
    return trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
        message_template="{{ body }} {{ query.q }}",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "query", "status", "code", "words"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_bodies_are_a_4xx_problem_naming_it_and_store_nothing(
    client, hook, body, content_type, query, status, code, words
):
    extra = {"HTTP_CONTENT_ENCODING": "gzip"} if body[:2] == b"\x1f\x8b" else {}
    response = client.post(
        f"/hooks/{hook.webhook_endpoint.token}?{query}",
        data=body,
        content_type=content_type,
        **extra,
    )

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    for word in words:
        assert word in problem["detail"]
    assert not Execution.objects.exists()


def test_twenty_megabytes_are_refused_before_they_are_read(client, hook):
    body = b'{"a": "' + b"x" * (20 * 1024 * 1024) + b'"}'

    response = client.post(
        f"/hooks/{hook.webhook_endpoint.token}", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not Execution.objects.exists()


def test_a_remembered_trigger_refuses_them_the_same_way(client, hook):
    # The second delivery takes the one-statement path (webhooks/delivery.py).
    url = f"/hooks/{hook.webhook_endpoint.token}"
    assert client.post(url, data=b'{"a": 1}', content_type="application/json").status_code == 202

    response = client.post(url, data=b'{"a": "\\u0000"}', content_type="application/json")

    assert response.status_code == 400 and response.json()["code"] == "unstorable_value"
    assert Execution.objects.count() == 1


def test_the_body_that_can_be_stored_is_stored_whole(client, hook):
    # An emoji as a surrogate pair, a large finite number, 99 levels: all fine.
    text = '{"emoji": "\\ud83d\\ude00", "n": 1e308, "deep": ' + "[" * 99 + "]" * 99 + "}"

    response = client.post(
        f"/hooks/{hook.webhook_endpoint.token}?q=fine", data=text, content_type="application/json"
    )

    assert response.status_code == 202, response.content
    stored = Execution.objects.get().request_payload
    assert stored["body"]["emoji"] == "\U0001f600" and float(stored["body"]["n"]) == 1e308
    assert stored["query"] == {"q": "fine"}


def test_a_utf16_body_is_stored_with_its_raw_text_made_storable(client, hook):
    body = '{"a": 1}'.encode("utf-16")  # valid JSON to Python; its raw bytes hold NULs

    response = client.generic(
        "POST", f"/hooks/{hook.webhook_endpoint.token}", body, "application/json; charset=utf-16"
    )

    assert response.status_code == 202, response.content
    stored = Execution.objects.get().request_payload
    assert stored["body"] == {"a": 1} and "\x00" not in stored["raw_body"]


RAW_SURROGATE = b'{"type": "event_callback", "event": {"text": "\xed\xa0\x80"}}'


def assert_invalid_json(response) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_json"
    assert "0xed" in response.json()["detail"]
    assert not Execution.objects.exists()


def test_raw_surrogate_bytes_are_a_400_on_a_path_url(client, acme, alice):
    trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="p", created_by=alice,
        webhook_path="/in/news",
    )  # fmt: skip

    response = client.post("/hooks/p/in/news", data=RAW_SURROGATE, content_type="application/json")

    assert_invalid_json(response)


def test_raw_surrogate_bytes_are_a_400_on_the_slack_app_url(client, settings, db):
    settings.SLACK_SIGNING_SECRET = secret = "8f742231b10e8888abcd99yyyzzz85a5"
    timestamp = str(int(time.time()))
    signed = b"v0:" + timestamp.encode() + b":" + RAW_SURROGATE  # Slack signs the raw bytes
    signature = "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()

    response = client.post(
        "/v1/webhooks/slack", data=RAW_SURROGATE, content_type="application/json",
        headers={"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature},
    )  # fmt: skip

    assert_invalid_json(response)
