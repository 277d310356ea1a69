"""Alerts in the admin: channels made and changed through the services (write-only URL and
secret, refusals on their fields), the "send a test" action against a real receiver, the
episodes' pages, and tenant scoping (the operator's channels are a superuser's alone)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.encryption import decrypt_secret
from alerts import services
from alerts.models import AlertChannel, AlertEpisode, AlertNotification
from tests.alerts.conftest import SECRET
from triggers import services as trigger_services

CHANGELIST = "admin:alerts_alertchannel_changelist"
ADD = "admin:alerts_alertchannel_add"


def _form(**fields) -> dict:
    return {"name": "noc", "kind": "slack", "enabled": "on", "events": [], **fields}


def test_the_operator_makes_a_channel_for_every_tenant(root):
    response = root.post(
        reverse(ADD),
        _form(url="https://hooks.example.test/T/B/x", events=["trigger_failed", "scheduler_lost"]),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    channel = AlertChannel.objects.get()
    assert channel.tenant is None and channel.events == ["trigger_failed", "scheduler_lost"]
    assert decrypt_secret(channel.encrypted_url) == "https://hooks.example.test/T/B/x"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": "ftp://x"}, "url", "http(s) URL"),
        ({"url": "https://h.example.test", "events": ["scheduler_lost"]}, "events", "operator"),
        ({"kind": "email", "email_to": "oncall@acme.test, nope"}, "email_to", "'nope' is not"),
        ({"kind": "email"}, "email_to", "at least one address"),
    ],
)
def test_a_refused_value_is_shown_on_its_field(root, acme, fields, field, message):
    response = root.post(reverse(ADD), _form(tenant="acme", **fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert not AlertChannel.objects.exists()


def test_a_new_webhook_channels_secret_is_shown_once(root):
    response = root.post(
        reverse(ADD), _form(kind="webhook", url="https://r.example.test/"), follow=True
    )

    shown = [str(m) for m in response.context["messages"] if "whsec_" in str(m)]
    assert len(shown) == 1
    secret = shown[0].rsplit(" ", 1)[1]
    assert decrypt_secret(AlertChannel.objects.get().encrypted_secret) == secret


def test_changing_a_channel_keeps_the_url_and_secret_left_empty(root):
    channel = services.channel_create(
        tenant=None, name="hook", kind="webhook", url="https://r.example.test/", secret=SECRET
    )

    response = root.post(
        reverse("admin:alerts_alertchannel_change", args=[channel.pk]),
        _form(name="renamed", kind="webhook", events=["trigger_failed"], url="", secret=""),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    channel.refresh_from_db()
    assert channel.name == "renamed" and channel.events == ["trigger_failed"]
    assert decrypt_secret(channel.encrypted_url) == "https://r.example.test/"
    assert decrypt_secret(channel.encrypted_secret) == SECRET


def test_the_send_a_test_action_reaches_the_receiver(root, acme, receiver, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True
    hook = receiver(secret=SECRET)
    channel = services.channel_create(
        tenant=acme, name="hook", kind="webhook", url=hook.url, secret=SECRET
    )

    response = root.post(
        reverse(CHANGELIST),
        {"action": "send_test", "_selected_action": [channel.pk]},
        follow=True,
    )

    assert [body["type"] for body in hook.verified] == ["alert.test"]
    assert "hook: the test was sent." in [str(m) for m in response.context["messages"]]
    assert AlertNotification.objects.get().status == "sent"


def test_the_episodes_pages_load(root, acme, make_trigger):
    services.channel_create(tenant=acme, name="a", kind="slack", url="https://h.example.test/")
    trigger = make_trigger(acme, name="Digest")
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())
    services.alerts_detect()
    episode = AlertEpisode.objects.get()

    listed = root.get(reverse("admin:alerts_alertepisode_changelist"))
    page = root.get(reverse("admin:alerts_alertepisode_change", args=[episode.pk]))

    assert listed.status_code == 200 and "Digest" in listed.content.decode()
    assert page.status_code == 200
    assert root.get(reverse("admin:alerts_alertnotification_changelist")).status_code == 200


def test_staff_see_their_tenants_channels_only(dave, acme, globex):
    services.channel_create(tenant=None, name="noc", kind="slack", url="https://n.example.test")
    services.channel_create(
        tenant=globex, name="globex", kind="slack", url="https://g.example.test"
    )
    ours = services.channel_create(
        tenant=acme, name="acme", kind="slack", url="https://a.example.test"
    )

    listed = dave.get(reverse(CHANGELIST))

    assert [c.name for c in listed.context["cl"].result_list] == ["acme"]
    noc = AlertChannel.objects.get(name="noc")
    assert dave.get(reverse("admin:alerts_alertchannel_change", args=[noc.pk])).status_code == 302
    offered = dave.get(reverse(ADD)).context["adminform"].form.fields["events"].initial
    assert "trigger_failed" in offered and "scheduler_lost" not in offered
    response = dave.post(reverse(ADD), _form(url="https://x.example.test"))
    assert "tenant" in response.context["adminform"].form.errors  # no channel of no tenant
    assert AlertChannel.objects.count() == 3 and ours.tenant_id == "acme"
