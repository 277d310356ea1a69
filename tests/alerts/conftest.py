"""Real receivers for alerts: HTTP servers on 127.0.0.1 — a webhook receiver that verifies the
Standard Webhooks signature with the standardwebhooks library, a Slack-like incoming webhook —
and an SMTP server (aiosmtpd) that Django's SMTP backend talks to; and episodes arranged
directly (``make_episode``) for the tests of what people are shown of them."""

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alerts.models import AlertEpisode

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """A real HTTP server in a thread. It answers each POST with the next status of
    ``statuses`` (the last one repeats); with ``secret``, a request whose Standard Webhooks
    signature does not verify is answered 401 and not kept in ``verified``."""

    def __init__(self, statuses=(200,), secret: str | None = None):
        self.statuses = list(statuses)
        self.secret = secret
        self.requests: list[dict] = []
        self.verified: list[dict] = []  # the JSON bodies whose signature verified
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = owner.answer(self.path, headers, body)
                raw = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: dict, body: bytes) -> int:
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if self.secret is not None:
                try:
                    Webhook(self.secret).verify(body, headers)
                except WebhookVerificationError:
                    return 401
                self.verified.append(json.loads(body))
            index = min(len(self.requests), len(self.statuses)) - 1
            return self.statuses[index]

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(request["body"]) for request in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    """``receiver(statuses=(200,), secret=None)`` starts one; all are stopped after the test."""
    started = []

    def start(statuses=(200,), secret=None) -> Receiver:
        found = Receiver(statuses, secret)
        started.append(found)
        return found

    yield start
    for found in started:
        found.close()


class _Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; ``.messages`` are the envelopes it took,
    ``.port`` where it listens."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_sink):
    """Django's SMTP backend pointed at the sink (pytest-django installs the in-memory one)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.ALERTS_FROM_EMAIL = "alerts@triggers.example.test"
    return smtp_sink


@pytest.fixture
def make_episode():
    """``make_episode(tenant, subject, opened_minutes_ago=0, closed=False, **fields)``: an
    episode arranged directly (the detection pass has its own tests), opened that many minutes
    ago; a tenant of None is the service's own."""

    def make(tenant, subject, *, opened_minutes_ago=0, closed=False, **fields):
        opened_at = timezone.now() - timedelta(minutes=opened_minutes_ago)
        fields.setdefault("event", "trigger_failed" if tenant else "scheduler_lost")
        fields.setdefault("subject_label", f"{subject} label")
        fields.setdefault("admin_path", "/admin/")
        fields.setdefault("summary", f"{subject} went wrong")
        if closed:
            fields.setdefault("closed_at", opened_at + timedelta(seconds=30))
            fields.setdefault("close_summary", "Recovered: the trigger is active again.")
        return AlertEpisode.objects.create(
            tenant=tenant, subject=subject, opened_at=opened_at, **fields
        )

    return make
