"""A path with U+0000 names nothing (found by the fuzz pass of issue 19): 404 in the surface's
format, before a view looks its id or token up in PostgreSQL (which answered 500)."""

import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from config.handlers import get_application
from triggers.services import trigger_create


@pytest.fixture
def hook(acme, alice):
    return trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="h", created_by=alice,
        webhook_path="/fuzz/hook",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("GET", "/agents/%00/triggers", "application/json"),
        ("GET", "/projects/p%00/triggers", "application/json"),
        ("GET", "/api/flows/%00/nodes", "application/json"),
        ("POST", "/hooks/abc%00def", "application/problem+json"),
        ("POST", "/hooks/p/fuzz%00/hook", "application/problem+json"),
    ],
)
def test_a_path_with_nul_is_a_404_in_the_surfaces_format(
    alice_client, hook, method, path, content_type
):
    response = alice_client.generic(method, path, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == content_type


def test_the_webhook_handler_gunicorn_serves_answers_it_too(hook):
    """Deliveries go through the lean handler with WEBHOOK_MIDDLEWARE (config/handlers.py)."""
    environ = RequestFactory().post("/hooks/p/fuzz%00/hook", b"{}", "application/json").environ
    started = {}
    request_started.disconnect(close_old_connections)  # keep the test's transaction
    request_finished.disconnect(close_old_connections)
    try:
        result = get_application()(environ, lambda status, headers: started.update(
            status=int(status.split()[0]), headers=dict(headers)))  # fmt: skip
        body = b"".join(result)
        result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    assert started["status"] == 404
    assert started["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 404
