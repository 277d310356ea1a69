"""config.filter and config.concurrency (triggers/event_rules.py, docs/webhooks.md "Filters
and concurrency keys"): the same bad value named by every surface; real deliveries stored or
filtered (counted, nothing stored); the frontend API's dry run on the last deliveries."""

import json

import pytest

from executions import selectors
from executions.models import Execution
from tests.triggers.test_one_config_definition import SURFACES, assert_refused
from triggers.models import Trigger
from triggers.services import trigger_create

PATH = {"path": "/webhook/one"}  # the agent API requires one


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
@pytest.mark.parametrize(
    ("config", "named"),
    [({"filter": "payload.["}, "filter"), ({"filter": 5}, "filter"),
     ({"concurrency": {"key": "payload.customer", "limit": 0}}, "concurrency.limit"),
     ({"concurrency": {"key": "payload.[", "limit": 1}}, "concurrency.key"),
     ({"concurrency": {"key": "a" + " || a" * 100, "limit": 1}}, "concurrency.key"),
     ({"concurrency": {"limit": 1}}, "concurrency.key")],
)  # fmt: skip
def test_a_bad_filter_or_concurrency_key_is_named_by_every_surface(
    alice_client, acme_agent, surface, config, named
):
    response, prefix = SURFACES[surface](alice_client, "webhook", {**PATH, **config})

    assert_refused(response, prefix, named)


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
def test_a_good_filter_and_key_are_kept_by_every_surface(alice_client, acme_agent, surface):
    config = {"filter": "payload.action == 'opened'",
              "concurrency": {"key": "payload.customer", "limit": 2}}  # fmt: skip

    response, _prefix = SURFACES[surface](alice_client, "webhook", {**PATH, **config})

    assert response.status_code in (200, 201), response.content
    stored = Trigger.objects.get().config
    assert stored["filter"] == config["filter"]
    assert stored["concurrency"] == config["concurrency"]


@pytest.fixture
def hook(acme, alice):
    return trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="hook", created_by=alice,
        config={"filter": "payload.action == 'opened' && headers.\"x-source\" != 'bot'",
                "concurrency": {"key": "payload.customer", "limit": 1}},
    )  # fmt: skip


def post(client, trigger, body, **headers):
    url = f"/hooks/{trigger.webhook_endpoint.token}"
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_a_truthy_delivery_is_stored_with_its_key_a_falsy_one_is_counted(client, hook):
    stored = post(client, hook, {"action": "opened", "customer": "c1"})
    closed = post(client, hook, {"action": "closed", "customer": "c1"})
    by_bot = post(client, hook, {"action": "opened", "customer": "c2"}, **{"X-Source": "bot"})

    assert stored.status_code in (200, 202), stored.content
    assert closed.status_code == 200 and closed.json()["status"] == "filtered"
    assert by_bot.status_code == 200 and by_bot.json()["status"] == "filtered"
    execution = Execution.objects.get()
    assert execution.request_payload["body"] == {"action": "opened", "customer": "c1"}
    assert execution.concurrency_key == "c1"
    hook.refresh_from_db()
    assert hook.filtered_count == 2


def test_the_dry_run_shows_which_of_the_last_deliveries_would_run(
    alice_client, client, acme, alice
):
    trigger = trigger_create(
        tenant=acme, provider_trigger_id="webhook", name="open", created_by=alice
    )
    for n, action in enumerate(["opened", "closed", "opened", "labeled"]):
        post(client, trigger, {"action": action, "n": n}, **{"X-Team": "core" if n else ""})
    url = f"/api/triggers/{trigger.pk}/filter-dry-run"

    response = alice_client.post(url, {"filter": "payload.action == 'opened'"}, format="json")

    assert response.status_code == 200, response.content
    found = response.json()
    assert (found["total"], found["would_run"], found["filtered"]) == (4, 2, 2)
    assert found["not_tried"] == 0
    newest_first = [row["would_run"] for row in found["results"]]
    assert newest_first == [False, True, False, True]
    assert found["results"][0]["reason"].startswith("Filtered:")

    limited = alice_client.post(
        url, {"filter": "payload.action == 'opened'", "required_headers": ["X-Team"],
              "limit": 3}, format="json",
    ).json()  # fmt: skip
    # The newest three: labeled, opened (n=2, with the header), closed.
    assert [row["would_run"] for row in limited["results"]] == [False, True, False]
    assert limited["total"] == 3
    # Nothing saved: the trigger's config is as it was, no execution was added.
    trigger.refresh_from_db()
    assert "filter" not in trigger.config
    assert Execution.objects.count() == 4


def test_the_dry_run_leaves_untried_what_its_time_does_not_reach(
    alice_client, client, acme, alice, monkeypatch
):
    trigger = trigger_create(tenant=acme, provider_trigger_id="webhook", name="t", created_by=alice)
    for n in range(3):
        post(client, trigger, {"action": "opened", "n": n})
    monkeypatch.setattr(selectors, "DRY_RUN_SECONDS", 0.0)  # its time is up at once

    found = alice_client.post(
        f"/api/triggers/{trigger.pk}/filter-dry-run", {"filter": "payload.n"}, format="json"
    ).json()

    assert (found["total"], found["not_tried"], found["results"]) == (0, 3, [])


def test_the_dry_run_refuses_bad_filters_and_other_tenants_triggers(
    alice_client, charlie_client, client, acme, alice
):
    trigger = trigger_create(tenant=acme, provider_trigger_id="webhook", name="h", created_by=alice)
    url = f"/api/triggers/{trigger.pk}/filter-dry-run"

    bad = alice_client.post(url, {"filter": "payload.["}, format="json")
    too_many = alice_client.post(url, {"filter": "a", "limit": 201}, format="json")
    bad_header = alice_client.post(url, {"required_headers": ["no spaces"]}, format="json")
    elsewhere = charlie_client.post(url, {"filter": "a"}, format="json")

    assert bad.status_code == 400 and "filter" in bad.json(), bad.content
    assert too_many.status_code == 400 and "limit" in too_many.json(), too_many.content
    assert bad_header.status_code == 400 and "required_headers[0]" in bad_header.json()
    assert elsewhere.status_code == 404


def test_the_admin_shows_them_and_tries_a_filter_on_the_last_deliveries(client, hook, globex):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    post(client, hook, {"action": "opened", "customer": "c1"})
    post(client, hook, {"action": "opened", "customer": "c2"})
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)

    page = client.get(reverse("admin:triggers_trigger_change", args=[hook.pk])).content.decode()
    assert 'id="trigger-cost-controls"' in page and "payload.customer" in page
    url = reverse("admin:executions_filter_dry_run", args=[hook.pk])
    assert url in page

    tried = client.post(url, {"filter": "payload.customer == 'c2'", "limit": 20})
    bad = client.post(url, {"filter": "payload.[", "limit": 20})

    assert tried.status_code == 200
    assert "Of the last 2 deliveries, 1 would have run and 1 would have" in tried.content.decode()
    assert bad.status_code == 200 and "Not a JMESPath expression" in bad.content.decode()
    hook.refresh_from_db()
    assert hook.config["filter"].startswith("payload.action")  # nothing saved


def test_a_staff_member_cannot_try_filters_on_another_tenants_trigger(client, hook, globex):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from accounts.services import tenant_member_ensure

    user = tenant_member_ensure(username="chuck", tenant_id=globex.pk).user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)

    response = client.get(reverse("admin:executions_filter_dry_run", args=[hook.pk]))

    assert response.status_code == 404
