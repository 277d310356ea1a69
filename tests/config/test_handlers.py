"""The WSGI application gunicorn serves: deliveries through the lean handler, the rest
through Django's, called the way a WSGI server calls it."""

import hashlib
import hmac
import json
import select
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import credential_create
from config.handlers import WEBHOOK_PATH_PREFIX, WebhookHandler, get_application
from executions.models import Execution
from tests.conftest import GITHUB_SECRET
from triggers.services import trigger_create, trigger_disable

BODY = json.dumps({"action": "opened", "issue": {"title": "Bug"}}).encode()


@pytest.fixture
def hook(github_hook):
    return github_hook


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: the test's transaction holds the connection, which
    ``close_old_connections`` would close at each request's start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call(application, method: str, path: str, body: bytes = b"", **headers) -> tuple:
    """(status code, headers, body) of one WSGI call."""
    environ = (
        RequestFactory()
        .generic(method, path, body, content_type="application/json", headers=headers)
        .environ
    )
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=int(status.split()[0]), headers=dict(response_headers))

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return started["status"], started["headers"], content


def signature(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_it_stores_a_delivery_through_the_lean_handler(hook):
    status, headers, content = call(
        get_application(), "POST", f"/hooks/{hook.webhook_endpoint.token}", BODY,
        X_Hub_Signature_256=signature(BODY),
    )  # fmt: skip

    assert status == 202, content
    stored = Execution.objects.get(execution_id=json.loads(content)["execution_id"])
    assert stored.trigger_id == hook.pk and stored.input_data["payload"] == json.loads(BODY)
    assert headers["Content-Length"] == str(len(content))
    # SecurityMiddleware ran; the browser middleware (XFrameOptionsMiddleware…) did not.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in headers


def test_a_custom_path_and_a_rejection_take_the_same_handler(hook):
    status, headers, content = call(
        get_application(), "POST", "/hooks/p/github/issues", BODY,
        X_Hub_Signature_256=signature(BODY, "wrong"),
    )  # fmt: skip

    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Content-Length"] == str(len(content))
    assert json.loads(content)["instance"] == "/hooks/p/github/issues"
    assert "X-Frame-Options" not in headers
    assert not Execution.objects.exists()


def test_a_host_outside_allowed_hosts_is_a_400_in_problem_json(hook):
    status, headers, content = call(
        get_application(), "POST", f"/hooks/{hook.webhook_endpoint.token}", BODY,
        X_Hub_Signature_256=signature(BODY), HOST="evil.example",
    )  # fmt: skip

    assert status == 400 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(content)["code"] == "bad_host"
    assert not Execution.objects.exists()


def test_every_other_path_keeps_the_service_middleware(db):
    status, headers, content = call(get_application(), "GET", "/healthz")

    assert status == 200 and json.loads(content) == {"status": "ok"}
    assert headers["X-Frame-Options"] == "DENY"


def test_an_unknown_delivery_url_is_a_404_in_problem_json(db):
    status, headers, content = call(get_application(), "POST", "/hooks/nope", BODY)

    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(content)["code"] == "not_found"


@override_settings(WEBHOOK_MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"])
def test_it_refuses_middleware_it_would_not_run_fully():
    with pytest.raises(ImproperlyConfigured, match="CsrfViewMiddleware has process_view"):
        WebhookHandler()


def test_it_refuses_to_build_an_asynchronous_chain(db):
    with pytest.raises(ValueError, match="synchronous"):
        WebhookHandler().load_middleware(is_async=True)


def test_every_delivery_route_is_under_the_prefix_the_handler_takes():
    assert reverse("webhook-by-token", args=["token"]).startswith(WEBHOOK_PATH_PREFIX)
    assert reverse("webhook-by-path", args=["github/issues"]).startswith(WEBHOOK_PATH_PREFIX)


# The remembered way: a trigger this process has served is answered before URL resolution.
urlpatterns = []  # a URL configuration without the delivery routes (ROOT_URLCONF below)


def deliver(application, hook, path=None, **headers) -> tuple:
    path = path or f"/hooks/{hook.webhook_endpoint.token}"
    return call(application, "POST", path, BODY, X_Hub_Signature_256=signature(BODY), **headers)


@pytest.mark.parametrize("url", ["/hooks/{token}", "/hooks/{token}/", "/hooks/p/github/issues"])
def test_a_remembered_trigger_is_answered_without_url_resolution(hook, url):
    application = get_application()
    path = url.format(token=hook.webhook_endpoint.token)
    first = deliver(application, hook, path)

    with override_settings(ROOT_URLCONF=__name__):  # the routes are gone: only that way answers
        status, headers, content = deliver(application, hook, path)
        unknown = call(application, "POST", "/hooks/never-served", BODY)

    assert first[0] == status == 202, content
    assert set(headers) == set(first[1])  # SecurityMiddleware's headers, as the usual way's
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Length"] == str(len(content))
    stored = Execution.objects.get(execution_id=json.loads(content)["execution_id"])
    assert stored.trigger_id == hook.pk and stored.input_data["payload"] == json.loads(BODY)
    assert unknown[0] == 404
    assert Execution.objects.count() == 2


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_a_remembered_answer_has_the_usual_ways_headers(hook, settings, secure):
    """The lean answer's headers, SecurityMiddleware's included (HSTS on HTTPS only), are
    the ones the usual way gives the first delivery, in the same order."""
    settings.SECURE_HSTS_SECONDS = 3600
    application = get_application()
    path = f"/hooks/{hook.webhook_endpoint.token}"

    def deliver_once():
        environ = RequestFactory().generic(
            "POST", path, BODY, content_type="application/json", secure=secure,
            headers={"X-Hub-Signature-256": signature(BODY)},
        ).environ  # fmt: skip
        started = {}
        result = application(environ, lambda status, headers: started.update(s=status, h=headers))
        content = b"".join(result)
        result.close()
        return started["s"], started["h"], content

    usual = deliver_once()
    remembered = deliver_once()

    assert usual[0] == remembered[0] == "202 Accepted"
    assert remembered[1] == usual[1]
    assert ("Strict-Transport-Security" in dict(remembered[1])) is secure
    assert json.loads(remembered[2])["execution_id"] != json.loads(usual[2])["execution_id"]


def test_a_remembered_answer_needs_no_request_signals(hook):
    """The lean way does their receivers' connection upkeep itself (the tests below)."""
    application = get_application()
    deliver(application, hook)  # now remembered
    sent = []

    def on_signal(signal, **kwargs):
        sent.append(signal)

    request_started.connect(on_signal)
    request_finished.connect(on_signal)
    try:
        with override_settings(ROOT_URLCONF=__name__):  # only the lean way can answer
            status, _, _ = deliver(application, hook)
        refused = deliver(application, hook, HOST="evil.example")  # Django's handler
    finally:
        request_started.disconnect(on_signal)
        request_finished.disconnect(on_signal)

    assert status == 202 and refused[0] == 400
    assert sent == [request_started, request_finished]  # the refusal's, as Django sends them


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_remembered_delivery_replaces_a_connection_that_died_between_requests(hook):
    """PostgreSQL ended the idle worker's session (a restart, idle_session_timeout): the
    health check finds it before the INSERT, which then runs on a new connection, where it
    would fail the delivery with a 500."""
    application = get_application()
    assert deliver(application, hook)[0] == 202  # now remembered
    pid = connection.connection.info.backend_pid
    other = connection.copy()
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()
    ended = time.monotonic() + 10
    while not select.select([connection.connection.pgconn.socket], [], [], 0.1)[0]:
        assert time.monotonic() < ended, "the session did not end"

    with override_settings(ROOT_URLCONF=__name__):  # only the lean way can answer
        status, _, content = deliver(application, hook)

    assert status == 202, content
    assert connection.connection.info.backend_pid != pid
    assert Execution.objects.filter(execution_id=json.loads(content)["execution_id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_remembered_answer_closes_a_connection_past_its_age_when_it_is_closed(hook):
    """As request_finished's close_old_connections does, once the server closes the answer."""
    application = get_application()
    assert deliver(application, hook)[0] == 202  # now remembered
    environ = (
        RequestFactory()
        .generic("POST", f"/hooks/{hook.webhook_endpoint.token}", BODY,
                 content_type="application/json",
                 headers={"X-Hub-Signature-256": signature(BODY)})
        .environ
    )  # fmt: skip
    answer = application(environ, lambda status, headers: None)
    assert connection.connection is not None  # the INSERT's, open while the answer is sent
    connection.close_at = 0  # CONN_MAX_AGE has passed

    answer.close()

    assert connection.connection is None


def test_a_remembered_trigger_changed_since_goes_the_usual_way(hook):
    application = get_application()
    deliver(application, hook)
    trigger_disable(trigger=hook)

    status, headers, content = deliver(application, hook)

    assert status == 409 and json.loads(content)["code"] == "trigger_not_active"
    assert headers["Content-Type"] == "application/problem+json"
    assert Execution.objects.count() == 1


def test_a_remembered_trigger_keeps_the_https_redirect_and_allowed_hosts(hook, settings):
    application = get_application()
    deliver(application, hook)
    settings.SECURE_SSL_REDIRECT = True
    redirected = deliver(get_application(), hook)
    settings.SECURE_SSL_REDIRECT = False
    refused = deliver(get_application(), hook, HOST="evil.example")

    assert redirected[0] == 301 and redirected[1]["Location"].startswith("https://")
    assert refused[0] == 400 and json.loads(refused[2])["code"] == "bad_host"
    assert Execution.objects.count() == 1


def test_a_remembered_trigger_with_other_middleware_goes_the_usual_way(hook, settings):
    application = get_application()
    deliver(application, hook)
    settings.WEBHOOK_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]

    with override_settings(ROOT_URLCONF=__name__):
        status, _, _ = deliver(get_application(), hook)

    assert status == 404  # resolved (and not found): that list has no lean way


def test_a_rejected_delivery_is_checked_once_remembered_and_once_as_stored(acme, alice):
    credential_create(tenant=acme, name="hook-key", value="k3y")
    hook = trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
        authentication={"type": "api_key", "credentialReferenceId": "hook-key"},
    )  # fmt: skip
    application = get_application()
    path = f"/hooks/{hook.webhook_endpoint.token}"
    assert call(application, "POST", path, BODY, X_API_Key="k3y")[0] == 202

    with CaptureQueriesContext(connection) as captured:
        status, _, _ = call(application, "POST", path, BODY, X_API_Key="nope")

    assert status == 401
    credential_reads = [q for q in captured if '"accounts_credential"' in q["sql"]]
    assert len(credential_reads) == 2  # the remembered way's check, then the stored trigger's
