"""The frontend API's ``/api/alert-channels``: a tenant's channels, write-only URLs and
secrets, validation in the frontend API's error format, tenant isolation, the test action."""

import pytest

from accounts.encryption import decrypt_secret
from alerts import services
from alerts.choices import NotificationPhase, NotificationStatus
from alerts.models import AlertChannel, AlertNotification
from tests.alerts.conftest import SECRET

SLACK = {"name": "#ops", "kind": "slack", "url": "https://hooks.slack.example.test/T1/B2/xyz"}


@pytest.mark.parametrize(
    ("url", "preview"),
    [
        ("http://[::1]:18199/hook", "http://[::1]:18199/…"),
        ("https://203.0.113.9", "https://203.0.113.9"),
    ],
)
def test_the_url_preview_is_a_url_an_ipv6_host_bracketed(alice_client, url, preview):
    response = alice_client.post(
        "/api/alert-channels", {"name": "hook", "kind": "webhook", "url": url}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["url_preview"] == preview


def test_create_a_slack_channel_the_url_is_write_only(alice_client):
    response = alice_client.post("/api/alert-channels", SLACK, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url_preview"] == "https://hooks.slack.example.test/…"
    assert "url" not in body and body["secret"] is None
    assert body["events"] == ["trigger_failed", "poll_stale", "watch_stale", "executions_waiting"]
    assert body["enabled"] is True and body["email_to"] == []
    channel = AlertChannel.objects.get(pk=body["id"])
    assert channel.tenant_id == "acme"
    assert SLACK["url"] not in channel.encrypted_url
    assert decrypt_secret(channel.encrypted_url) == SLACK["url"]
    assert alice_client.get(f"/api/alert-channels/{channel.pk}").json() == body


def test_a_webhook_channel_made_without_a_secret_shows_its_new_one_once(alice_client):
    response = alice_client.post(
        "/api/alert-channels",
        {"name": "hook", "kind": "webhook", "url": "https://receiver.example.test/alerts"},
        format="json",
    )

    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    channel = AlertChannel.objects.get()
    assert decrypt_secret(channel.encrypted_secret) == secret
    assert alice_client.get(f"/api/alert-channels/{channel.pk}").json()["secret"] is None
    assert alice_client.get("/api/alert-channels").json()[0]["secret"] is None


def test_a_given_secret_is_kept_and_never_shown(alice_client):
    response = alice_client.post(
        "/api/alert-channels",
        {"name": "hook", "kind": "webhook", "url": "https://r.example.test/", "secret": SECRET},
        format="json",
    )

    assert response.status_code == 201 and response.json()["secret"] is None
    assert decrypt_secret(AlertChannel.objects.get().encrypted_secret) == SECRET


def test_an_email_channel(alice_client):
    response = alice_client.post(
        "/api/alert-channels",
        {
            "name": "on call",
            "kind": "email",
            "email_to": ["oncall@acme.test"],
            "events": ["trigger_failed"],
            "enabled": False,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["email_to"], body["events"], body["enabled"]) == (
        ["oncall@acme.test"], ["trigger_failed"], False,
    )  # fmt: skip
    assert body["url_preview"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "x", "kind": "slack"}, "url", "needs a URL"),
        ({"name": "x", "kind": "email"}, "email_to", "at least one address"),
        ({"name": "x", "kind": "email", "email_to": ["not an address"]}, "email_to", "valid"),
        ({"name": "x", "kind": "sms"}, "kind", "not a valid choice"),
        ({"kind": "slack", "url": "https://h.example.test"}, "name", "required"),
        ({**SLACK, "url": "ftp://h.example.test/x"}, "url", "http(s) URL"),
        ({**SLACK, "url": "https://"}, "url", "http(s) URL"),
        ({**SLACK, "url": "https://h.example.test:99999/x"}, "url", "http(s) URL"),
        ({**SLACK, "url": "https://h.example.test/a\x07b"}, "url", "http(s) URL"),
        ({**SLACK, "events": ["trigger_exploded"]}, "events", "not a valid choice"),
        ({**SLACK, "events": ["scheduler_lost"]}, "events", "not a valid choice"),
        ({**SLACK, "events": "trigger_failed"}, "events", "list"),
        ({**SLACK, "enabled": "yes"}, "enabled", "boolean"),
        ({**SLACK, "secret": SECRET}, "secret", "Only a webhook channel"),
        ({**SLACK, "kind": "webhook", "secret": "s3cr3t"}, "secret", "whsec_"),
        ({**SLACK, "kind": "webhook", "secret": "whsec_c2hvcnQ="}, "secret", "24 to 64 bytes"),
        ({**SLACK, "email_to": ["a@acme.test"]}, "email_to", "Only an email channel"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(alice_client, body, field, message):
    response = alice_client.post("/api/alert-channels", body, format="json")

    assert response.status_code == 400, response.json()
    errors = response.json()
    assert list(errors) == [field], errors
    assert message in str(errors[field]), errors
    assert not AlertChannel.objects.exists()


def test_patch_changes_what_is_given_and_keeps_the_rest(alice_client):
    channel_id = alice_client.post("/api/alert-channels", SLACK, format="json").json()["id"]

    response = alice_client.patch(
        f"/api/alert-channels/{channel_id}",
        {"name": "#alerts", "events": ["trigger_failed"], "enabled": False},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["events"]) == ("#alerts", ["trigger_failed"])
    channel = AlertChannel.objects.get()
    assert channel.enabled is False
    assert decrypt_secret(channel.encrypted_url) == SLACK["url"]

    new_url = "https://hooks.slack.example.test/T1/B2/new"
    alice_client.patch(f"/api/alert-channels/{channel_id}", {"url": new_url}, format="json")
    channel.refresh_from_db()
    assert decrypt_secret(channel.encrypted_url) == new_url


def test_patch_refuses_bad_values_and_keeps_the_channel(alice_client):
    channel_id = alice_client.post("/api/alert-channels", SLACK, format="json").json()["id"]

    response = alice_client.patch(
        f"/api/alert-channels/{channel_id}", {"url": "not a url", "name": "new"}, format="json"
    )

    assert response.status_code == 400 and list(response.json()) == ["url"]
    channel = AlertChannel.objects.get()
    assert channel.name == "#ops" and decrypt_secret(channel.encrypted_url) == SLACK["url"]


def test_delete(alice_client):
    channel_id = alice_client.post("/api/alert-channels", SLACK, format="json").json()["id"]

    assert alice_client.delete(f"/api/alert-channels/{channel_id}").status_code == 204
    assert not AlertChannel.objects.exists()


def test_another_tenants_channels_and_the_operators_are_not_there(
    alice_client, charlie_client, globex
):
    services.channel_create(tenant=None, name="noc", kind="slack", url="https://n.example.test")
    theirs = services.channel_create(
        tenant=globex, name="globex", kind="slack", url="https://g.example.test"
    )
    ours = alice_client.post("/api/alert-channels", SLACK, format="json").json()["id"]

    listed = alice_client.get("/api/alert-channels")
    assert [c["id"] for c in listed.json()] == [ours] and listed["X-Total-Count"] == "1"
    for method in ("get", "patch", "delete"):
        response = getattr(alice_client, method)(
            f"/api/alert-channels/{theirs.pk}", {"name": "mine"}, format="json"
        )
        assert response.status_code == 404
    assert alice_client.post(f"/api/alert-channels/{theirs.pk}/test").status_code == 404
    assert charlie_client.get(f"/api/alert-channels/{ours}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "globex"


def test_a_viewer_may_read_but_not_write(alice_client, bob_client):
    channel_id = alice_client.post("/api/alert-channels", SLACK, format="json").json()["id"]

    assert bob_client.get(f"/api/alert-channels/{channel_id}").status_code == 200
    assert bob_client.post("/api/alert-channels", SLACK, format="json").status_code == 403
    assert bob_client.post(f"/api/alert-channels/{channel_id}/test").status_code == 403
    assert AlertChannel.objects.count() == 1


def test_the_test_action_sends_a_signed_message_now(alice_client, receiver, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True
    hook = receiver(secret=SECRET)
    channel_id = alice_client.post(
        "/api/alert-channels",
        {"name": "hook", "kind": "webhook", "url": hook.url, "secret": SECRET},
        format="json",
    ).json()["id"]

    response = alice_client.post(f"/api/alert-channels/{channel_id}/test")

    assert response.status_code == 200, response.json()
    assert response.json() == {"detail": "The test was delivered."}
    [body] = hook.verified
    assert body["type"] == "alert.test" and body["tenant_id"] == "acme"
    notification = AlertNotification.objects.get()
    assert (notification.phase, notification.status) == (
        NotificationPhase.TEST, NotificationStatus.SENT,
    )  # fmt: skip


def test_the_test_action_says_why_it_failed(alice_client, receiver, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    inside = receiver()
    channel_id = alice_client.post(
        "/api/alert-channels", {**SLACK, "url": inside.url}, format="json"
    ).json()["id"]

    response = alice_client.post(f"/api/alert-channels/{channel_id}/test")

    assert response.status_code == 502
    assert "private or reserved address" in response.json()["detail"]
    assert inside.requests == []
    assert AlertNotification.objects.get().status == NotificationStatus.FAILED
