"""Every error in the surface's own format (issue 19), Django's own included: each kind of
error, sent to each surface, answers with that surface's content type and body shape."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from accounts.services import api_token_create, tenant_member_ensure
from config.views import csrf_failure
from triggers.services import trigger_create

PROBLEM_KEYS = {"code", "detail", "instance", "requestId", "status", "title", "error"}
MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"


def drf_body(body) -> bool:
    return isinstance(body, dict) and bool(body) and "statusCode" not in body


def flows_body(body) -> bool:
    return set(body) == {"statusCode", "message", "error"}


def problem_body(body) -> bool:
    return set(body) >= PROBLEM_KEYS


# surface: (method and path that take a body, a path under it that does not exist, the
# error content type, the error body's shape)
SURFACES = {
    "frontend": ("POST /api/triggers", "/api/nothing-here", "application/json", drf_body),
    "flows": ("POST /api/flows", "/api/flows/x/nothing/here", "application/json", flows_body),
    "agent": ("PUT /agents/triage/triggers", "/agents/triage/nothing", "application/json",
              drf_body),
    "management": (f"POST {MANAGE}", MANAGE + "/t/nothing", "application/problem+json",
                   problem_body),
    "webhooks": ("POST /hooks/{token}", "/hooks/{token}/nothing/here",
                 "application/problem+json", problem_body),
}  # fmt: skip
API_SURFACES = [name for name in SURFACES if name != "webhooks"]


@pytest.fixture
def surfaces(acme, alice, acme_agent):
    hook = trigger_create(tenant=acme, provider_trigger_id="webhook", name="h", created_by=alice)
    token = hook.webhook_endpoint.token
    return {
        name: (post.format(token=token), missing.format(token=token), *rest)
        for name, (post, missing, *rest) in SURFACES.items()
    }  # fmt: skip


@pytest.fixture
def caller(alice_membership):
    _, token = api_token_create(membership=alice_membership)
    client = Client(raise_request_exception=False)
    return client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client, method, path, body=b"{}", content_type="application/json", **extra):
    if method is None:  # the surface's own: "PUT /agents/…"
        method, path = path.split(" ", 1)
    return client.generic(method, path, body, content_type=content_type, **extra)


def error_kinds(surface: str):
    """(kind, status, how to cause it) for ``surface``: (client, auth headers, path, missing
    path, settings) -> response."""
    kinds = [
        ("invalid JSON", 400, lambda c, a, p, m, s: send(c, None, p, b'{"a": ', **a)),
        ("unstorable value", 400,
         lambda c, a, p, m, s: send(c, None, p, b'{"name": "\\ud800"}', **a)),
        ("host not allowed", 400,
         lambda c, a, p, m, s: send(c, None, p, HTTP_HOST="evil.example", **a)),
        ("body too large", 413, _too_large),
        ("unknown path", 404, lambda c, a, p, m, s: send(c, "GET", m, **a)),
        ("xml body", 415, lambda c, a, p, m, s: send(c, None, p, b"<a/>", "application/xml", **a)),
    ]  # fmt: skip
    if surface != "webhooks":  # deliveries have no session, token or CSRF: the pipeline decides
        kinds += [
            ("wrong token", 401,
             lambda c, a, p, m, s: send(c, None, p, HTTP_AUTHORIZATION="Bearer nope")),
            ("csrf failure", 403, _csrf_failure),
            ("too many wrong tokens", 429, _throttled),
            ("method", 405, lambda c, a, p, m, s: send(c, "TRACE", p.split(" ")[1], **a)),
        ]  # fmt: skip
    return kinds


def _too_large(client, auth, path, missing, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    return send(client, None, path, json.dumps({"name": "x" * 2000}).encode(), **auth)


def _csrf_failure(client, auth, path, missing, settings):
    user = get_user_model().objects.get(username="alice")
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(user)
    return send(browser, None, path)


def _throttled(client, auth, path, missing, settings):
    settings.THROTTLE_FAILED_TOKENS = "2/min"
    for _ in range(2):
        send(client, None, path, HTTP_AUTHORIZATION="Bearer wrong")
    return send(client, None, path, **auth)


@pytest.mark.parametrize(
    ("surface", "kind", "status", "cause"),
    [(surface, *kind) for surface in SURFACES for kind in error_kinds(surface)],
    ids=[f"{surface}-{kind[0]}" for surface in SURFACES for kind in error_kinds(surface)],
)
def test_each_error_kind_answers_in_the_surfaces_format(
    surfaces, caller, settings, surface, kind, status, cause
):
    path, missing, content_type, shape = surfaces[surface]
    client, auth = caller

    response = cause(client, auth, path, missing, settings)

    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == content_type, response.content[:300]
    body = json.loads(response.content)
    assert shape(body), body
    if content_type == "application/problem+json":
        assert body["status"] == status
    if status == 429:
        assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("surface", API_SURFACES)
def test_an_unexpected_exception_is_a_500_in_the_surfaces_format(
    surfaces, caller, monkeypatch, surface
):
    path, _, content_type, shape = surfaces[surface]
    client, auth = caller
    monkeypatch.setattr(
        "accounts.permissions.membership_for_request",
        lambda request, **_: (_ for _ in ()).throw(RuntimeError("boom")),
    )

    response = send(client, None, path, **auth)

    assert response.status_code == 500
    assert response["Content-Type"] == content_type
    assert shape(json.loads(response.content))


@pytest.mark.parametrize("surface", [*API_SURFACES, "webhooks"])
def test_djangos_csrf_failure_view_speaks_the_surfaces_format(surfaces, surface):
    path, _, content_type, shape = surfaces[surface]
    request = RequestFactory().post(path.split(" ")[1])

    response = csrf_failure(request, reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert response["Content-Type"] == content_type
    assert shape(json.loads(response.content))


def test_the_admin_keeps_djangos_html_pages(db):
    staff = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    tenant_member_ensure(username="staff", tenant_id="acme")

    response = browser.post("/admin/logout/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
