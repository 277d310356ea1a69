"""Secrets in URLs stay out of the logs (issue 25, finding 7): a webhook's token or custom
path and a key endpoint's key keep 4 characters, in gunicorn's access log and in every line
Django's console handler writes."""

import io
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from config.secret_paths import MaskSecretPaths, mask_secret_paths
from tests.conftest import ROOT, free_port

TOKEN = "Xk3fQ9pL2vN8rT5wY1zA7bC4dE6gH0jK"  # secrets.token_urlsafe(32)'s length
KEY = "trk_" + "S3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"/hooks/{TOKEN}", "/hooks/Xk3f…"),
        (f"/hooks/{TOKEN}/", "/hooks/Xk3f…"),
        (f"POST /hooks/{TOKEN}?attempt=2 HTTP/1.1", "POST /hooks/Xk3f…?attempt=2 HTTP/1.1"),
        (f"https://triggers.example.com/hooks/{TOKEN}", "https://triggers.example.com/hooks/Xk3f…"),
        ("/hooks/p/github/issues-of-acme", "/hooks/p/gith…"),
        ("/hooks/p/news", "/hooks/p/…"),  # too short to keep any of it
        (
            f"/organizations/acme/triggers/7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d/webhook/key/{KEY}",
            "/organizations/acme/triggers/7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d/webhook/key/trk_…",
        ),
        (
            f"Unauthorized: /organizations/acme/triggers/x/polling/key/{KEY}/",
            "Unauthorized: /organizations/acme/triggers/x/polling/key/trk_…",
        ),
        (f'"GET /hooks/{TOKEN} HTTP/1.1" 404', '"GET /hooks/Xk3f… HTTP/1.1" 404'),
    ],
)
def test_the_secret_part_keeps_four_characters(text, masked):
    assert mask_secret_paths(text) == masked
    assert TOKEN not in mask_secret_paths(text) and KEY not in mask_secret_paths(text)


@pytest.mark.parametrize(
    "text",
    [
        "/api/triggers/12",
        "/v1/webhooks/7d0b9c7e-3f7a-4c6e-9d7b-4a3f0c1e2b5d",
        "/manage/tenants/acme/projects/p/agents/a/triggers/key",
        "Execution 42 completed",
    ],
)
def test_other_paths_are_written_whole(text):
    assert mask_secret_paths(text) == text


def test_djangos_log_lines_are_masked_by_the_console_handler():
    """What django.request writes for a refused delivery (``Unauthorized: <path>``)."""
    [console] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert any(isinstance(f, MaskSecretPaths) for f in console.filters)
    written = io.StringIO()
    stream = console.setStream(written)
    try:
        logging.getLogger("django.request").warning("Unauthorized: %s", f"/hooks/{TOKEN}")
        logging.getLogger("webhooks.views").error("Delivery to %s failed", f"/hooks/p/{TOKEN}")
    finally:
        console.setStream(stream)

    assert TOKEN not in written.getvalue()
    assert "Unauthorized: /hooks/Xk3f…" in written.getvalue()
    assert "Delivery to /hooks/p/Xk3f… failed" in written.getvalue()


def test_gunicorns_access_log_masks_them(tmp_path):
    """gunicorn with bin/run's ``-c config/gunicorn.py`` and access log, serving a tiny WSGI
    app (the path reaches the log whatever the app answers)."""
    (tmp_path / "tiny_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('404 Not Found', [('Content-Length', '0')])\n"
        "    return [b'']\n"
    )
    port = free_port()
    log = tmp_path / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--pythonpath",
         str(tmp_path), "tiny_app:app", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(log), "--no-control-socket"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    paths = [
        f"/hooks/{TOKEN}?attempt=1",
        "/hooks/p/github/issues-of-acme",
        f"/organizations/acme/triggers/7d0b9c7e/scheduled/key/{KEY}",
    ]
    try:
        deadline = time.monotonic() + 30
        for path in paths:
            while True:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", data=b"{}", method="POST",
                    headers={"Referer": f"https://example.com/hooks/{TOKEN}"},
                )  # fmt: skip
                try:
                    urllib.request.urlopen(request, timeout=5)
                except urllib.error.HTTPError:
                    break  # the 404: served and logged
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.1)
        while log.read_text().count("\n") < len(paths) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=30)

    lines = log.read_text().splitlines()
    assert len(lines) == 3, lines
    assert '"POST /hooks/Xk3f…?attempt=1 HTTP/1.1" 404' in lines[0]
    assert '"https://example.com/hooks/Xk3f…"' in lines[0]
    assert '"POST /hooks/p/gith… HTTP/1.1" 404' in lines[1]
    assert '"POST /organizations/acme/triggers/7d0b9c7e/scheduled/key/trk_… HTTP/1.1"' in lines[2]
    text = log.read_text()
    assert TOKEN not in text and KEY not in text and "issues-of-acme" not in text
