"""Polling triggers on the surfaces: the catalog, test samples, the deprecated polling key
endpoint, the execution history and the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from executions.models import Execution
from polling import services
from tests.polling.conftest import KINDS, polling_state, source_config
from triggers.models import Trigger
from triggers.services import trigger_disable


def poll(trigger):
    services.trigger_poll(trigger_id=trigger.pk)
    trigger.refresh_from_db()


@pytest.mark.parametrize(("provider", "trigger_id"), [("rss", "on_new_item"),
                                                      ("http", "on_new_json_item")])  # fmt: skip
def test_the_catalog_lists_the_polling_providers(provider, trigger_id):
    (entry,) = APIClient().get(f"/providers/{provider}/triggers").json()

    assert (entry["trigger_id"], entry["trigger_type"]) == (trigger_id, "polling")
    assert entry["can_get_test_samples"] is True
    properties = entry["trigger_config_schema"]["properties"]
    assert properties["polling_frequency"]["title"] and properties["url"]["description"]
    assert entry["trigger_config_schema"]["required"] == ["url"]


@pytest.mark.parametrize(
    ("provider", "trigger_id", "config", "named"),
    [("rss", "on_new_item", {}, "trigger_config.url"),
     ("rss", "on_new_item", {"url": "ftp://x/feed"}, "trigger_config.url"),
     ("rss", "on_new_item", {"url": "https://x/f", "polling_frequency": "10s"},
      "trigger_config.polling_frequency"),
     ("http", "on_new_json_item", {"url": "https://x/", "items_path": "data[?"},
      "trigger_config.items_path")],
)  # fmt: skip
def test_a_bad_polling_config_is_a_400_naming_the_setting(
    alice_client, acme_project, provider, trigger_id, config, named
):
    response = alice_client.post(
        f"/projects/{acme_project.public_id}/triggers",
        {"provider_id": provider, "trigger_id": trigger_id, "trigger_config": config},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert named in response.json()
    assert not Trigger.objects.exists()


def test_a_polling_trigger_made_over_the_api_polls_once_enabled(
    alice_client, acme_project, feed_server, polling_settings
):
    server = feed_server("rss")
    created = alice_client.post(
        f"/projects/{acme_project.public_id}/triggers",
        {"provider_id": "rss", "trigger_id": "on_new_item",
         "trigger_config": {"url": server.url, "polling_frequency": "10000"}},
        format="json",
    ).json()  # fmt: skip
    trigger = Trigger.objects.get(uuid=created["project_trigger_id"])
    state = polling_state(trigger)  # made with the trigger
    assert (created["status"], state.next_poll_at, state.interval_seconds) == ("DISABLED", None, 10)

    alice_client.post(f"/triggers/{trigger.uuid}/enable")

    assert polling_state(trigger).next_poll_at is not None  # due now: its first poll sets a cursor


@pytest.mark.parametrize("kind", KINDS)
def test_test_samples_are_fetched_now_and_leave_the_cursor(
    kind, alice_client, feed_server, make_polling
):
    server = feed_server(kind)
    server.add(7)
    trigger, _ = make_polling(server)
    path = f"/api/v0/project-triggers/{trigger.uuid}/test-samples"

    before_any_poll = alice_client.get(path)
    trigger.refresh_from_db()
    assert polling_state(trigger).cursor is None
    poll(trigger)
    cursor = polling_state(trigger).cursor
    server.add(1)
    after_a_poll = alice_client.get(path).json()
    trigger.refresh_from_db()

    assert before_any_poll.status_code == 200
    assert before_any_poll.json()["source"] == "fetched"
    assert [s["title"] for s in before_any_poll.json()["samples"]] == [
        "Item 7", "Item 6", "Item 5", "Item 4", "Item 3",
    ]  # fmt: skip
    assert after_a_poll["samples"][0]["title"] == "Item 8"
    assert polling_state(trigger).cursor == cursor and not Execution.objects.exists()


def test_test_samples_of_a_failing_source_are_a_502(alice_client, feed_server, make_polling):
    server = feed_server("http")
    trigger, _ = make_polling(server)
    server.failing = (500, {})

    response = alice_client.get(f"/api/v0/project-triggers/{trigger.uuid}/test-samples")

    assert response.status_code == 502
    assert "answered 500" in response.json()["detail"]
    trigger.refresh_from_db()
    assert polling_state(trigger).failures == 0  # a look, not a poll


@pytest.mark.parametrize("kind", KINDS)
def test_the_polling_key_polls_now(kind, client, feed_server, make_polling):
    server = feed_server(kind)
    trigger, key = make_polling(server)
    path = f"/organizations/acme/triggers/{trigger.uuid}/polling/key/{key}"
    client.post(path)
    server.add(2)

    response = client.post(path)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["fired"]) == ("ok", 2)
    assert set(body["execution_ids"]) == {
        str(e) for e in Execution.objects.values_list("execution_id", flat=True)
    }


def test_the_polling_key_of_a_failing_source_is_a_502_and_a_failed_poll(
    client, feed_server, make_polling
):
    server = feed_server("rss")
    trigger, key = make_polling(server)
    server.failing = (500, {})

    response = client.post(f"/organizations/acme/triggers/{trigger.uuid}/polling/key/{key}")

    assert response.status_code == 502
    assert response["Content-Type"] == "application/problem+json"
    trigger.refresh_from_db()
    assert polling_state(trigger).failures == 1


def test_the_polling_key_of_a_disabled_trigger_is_a_409(client, feed_server, make_polling):
    server = feed_server("rss")
    trigger, key = make_polling(server)
    trigger_disable(trigger=trigger)

    response = client.post(f"/organizations/acme/triggers/{trigger.uuid}/polling/key/{key}")

    assert response.status_code == 409
    assert server.requests == []


def test_the_polling_key_is_a_404_for_another_kind(client, feed_server, make_polling):
    server = feed_server("rss")
    trigger, key = make_polling(server)

    response = client.post(f"/organizations/acme/triggers/{trigger.uuid}/scheduled/key/{key}")

    assert response.status_code == 404


def test_a_triggers_items_are_its_execution_history(alice_client, feed_server, make_polling):
    server = feed_server("rss")
    trigger, _ = make_polling(server)
    poll(trigger)
    server.add(2)
    poll(trigger)

    listed = alice_client.get(f"/api/executions?trigger_id={trigger.uuid}").json()

    assert sorted(e["input_data"]["item_id"] for e in listed) == ["item-1", "item-2"]
    assert {e["execution_type"] for e in listed} == {"polling"}


# -- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(user)
    return client


def test_the_admin_polls_now_and_shows_the_poll_state(admin_client, feed_server, make_polling):
    server = feed_server("rss")
    trigger, _ = make_polling(server)
    poll(trigger)
    server.add(1)
    changelist = reverse("admin:triggers_trigger_changelist")

    done = admin_client.post(
        changelist, {"action": "poll_now", "_selected_action": [trigger.pk]}, follow=True
    )
    page = admin_client.get(reverse("admin:triggers_trigger_change", args=[trigger.pk]))
    listed = admin_client.get(changelist)

    assert "1 new item(s) fired" in done.content.decode()
    assert Execution.objects.get().idempotency_key == "item-1"
    detail = page.content.decode()
    for shown in (
        "poll state",
        "next poll at",
        "last polled at",
        "last_item_id",
        "item-1",
        "failures",
    ):
        assert shown.lower() in detail.lower(), shown
    assert "1 new item(s) fired" in listed.content.decode()
    assert 'id="trigger-poll_now"' in detail  # the page's "Poll now" button


def test_the_poll_now_button_is_only_on_polling_triggers(admin_client, acme, make_trigger):
    hook = make_trigger(acme, "webhook", name="Hook")

    page = admin_client.get(reverse("admin:triggers_trigger_change", args=[hook.pk]))

    assert 'id="trigger-run_now"' in page.content.decode()
    assert 'id="trigger-poll_now"' not in page.content.decode()


def test_the_admins_execution_list_shows_the_item(admin_client, feed_server, make_polling):
    server = feed_server("rss")
    trigger, _ = make_polling(server)
    poll(trigger)
    server.add(1)
    poll(trigger)

    page = admin_client.get(reverse("admin:executions_execution_changelist")).content.decode()

    assert "item-1 — Item 1" in page


def test_poll_now_in_the_admin_refuses_other_triggers(admin_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook", name="Hook")

    done = admin_client.post(
        reverse("admin:triggers_trigger_changelist"),
        {"action": "poll_now", "_selected_action": [trigger.pk]},
        follow=True,
    )

    assert "not polled" in done.content.decode()


def test_source_config_is_what_the_catalog_takes():
    from triggers import catalog

    for kind, trigger_id in (("rss", "on_new_item"), ("http", "on_new_json_item")):
        entry = catalog.trigger_type_get(kind, trigger_id)
        assert entry.config_errors(source_config(kind, "https://feed.example/x")) == {}
