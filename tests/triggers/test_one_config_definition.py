"""One definition of each trigger type's config (its catalog entry): the same bad config sent
through every surface that can create the type is a 400 naming the same key, each surface in
its own format (``triggers[0].config.<key>``, ``trigger_config.<key>``, ``config.<key>``), and
nothing is stored."""

import pytest
from django.core.exceptions import ValidationError

from triggers import catalog
from triggers.models import Trigger


def agent_api(client, trigger_id: str, config: dict):
    body = {"triggers": [{"trigger_id": trigger_id, "config": config}]}
    return client.put("/agents/triage/triggers", body, format="json"), "triggers[0].config."


def provider_api(client, trigger_id: str, config: dict, provider_id: str = "builtin"):
    body = {"provider_id": provider_id, "trigger_id": trigger_id, "trigger_config": config}
    return client.post("/projects/support/triggers", body, format="json"), "trigger_config."


FRONTEND_TYPES = {"cron": "schedule", "webhook": "webhook"}


def frontend_api(client, trigger_id: str, config: dict):
    body = {"name": "One", "trigger_type": FRONTEND_TYPES[trigger_id], "config": config}
    if trigger_id == "cron":
        body["custom_cron_expression"] = "0 9 * * *"
    return client.post("/api/triggers", body, format="json"), "config."


SURFACES = {"agent": agent_api, "provider": provider_api, "frontend": frontend_api}


def assert_refused(response, prefix: str, key: str) -> None:
    assert response.status_code == 400, response.content
    assert list(response.json()) == [prefix + key], response.json()
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
def test_a_cron_timezone_of_the_wrong_type_is_named_by_every_surface(
    alice_client, acme_agent, surface
):
    response, prefix = SURFACES[surface](
        alice_client, "cron", {"schedule": "0 9 * * *", "timezone": 5}
    )

    assert_refused(response, prefix, "timezone")


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
def test_a_webhook_path_of_the_wrong_type_is_named_by_every_surface(
    alice_client, acme_agent, surface
):
    response, prefix = SURFACES[surface](alice_client, "webhook", {"path": 5})

    assert_refused(response, prefix, "path")


@pytest.mark.parametrize("surface", ["agent", "provider"])
@pytest.mark.parametrize(
    ("setting", "named"),
    [({"settle_seconds": 7200}, "settle_seconds"), ({"events": ["renamed"]}, "events[0]"),
     ({"recursive": "yes"}, "recursive")],
)  # fmt: skip
def test_a_file_system_setting_out_of_range_or_of_the_wrong_type_is_named_by_both_surfaces(
    alice_client, acme_agent, watch_root, surface, setting, named
):
    config = {"watch_path": str(watch_root / "in"), **setting}

    response, prefix = SURFACES[surface](alice_client, "file_system", config)

    assert_refused(response, prefix, named)


@pytest.mark.parametrize("surface", ["agent", "provider"])
def test_a_watch_path_outside_the_roots_is_named_by_both_surfaces(
    alice_client, acme_agent, watch_root, surface
):
    response, prefix = SURFACES[surface](alice_client, "file_system", {"watch_path": "/etc"})

    assert_refused(response, prefix, "watch_path")
    assert str(watch_root) in response.json()[prefix + "watch_path"][0]  # the watcher's check


@pytest.mark.parametrize("surface", ["agent", "provider"])
@pytest.mark.parametrize(
    ("trigger_id", "config"),
    [("cron", {"schedule": "0 9 * * *", "tz": "UTC"}), ("webhook", {"path": "/a", "tz": "UTC"})],
)
def test_an_unknown_key_is_named_where_the_contract_refuses_it(
    alice_client, acme_agent, surface, trigger_id, config
):
    response, prefix = SURFACES[surface](alice_client, trigger_id, config)

    assert_refused(response, prefix, "tz")
    assert response.json()[prefix + "tz"] == [f"Not a setting of {trigger_id} triggers."]


def test_the_frontend_api_keeps_a_key_of_its_own_client(alice_client):
    response, _ = frontend_api(alice_client, "webhook", {"tz": "UTC"})

    assert response.status_code == 201, response.content
    assert Trigger.objects.get().config == {"tz": "UTC"}


def test_a_required_key_is_named_alike_and_the_agent_api_alone_requires_a_webhook_path(
    alice_client, acme_agent
):
    cron_agent, prefix = agent_api(alice_client, "cron", {})
    assert_refused(cron_agent, prefix, "schedule")
    cron_provider, prefix = provider_api(alice_client, "cron", {})
    assert_refused(cron_provider, prefix, "schedule")
    hook_agent, prefix = agent_api(alice_client, "webhook", {})
    assert_refused(hook_agent, prefix, "path")

    hook_provider, _ = provider_api(alice_client, "webhook", {})

    assert hook_provider.status_code == 201, hook_provider.content  # its webhook_data has a URL


def test_the_same_definition_is_what_the_provider_catalog_publishes(client):
    published = client.get("/providers/builtin/triggers/file_system").json()

    assert published["trigger_config_schema"] == catalog.FILE_SYSTEM.config_schema


@pytest.mark.parametrize("surface", ["agent", "provider"])
def test_an_admin_edit_of_a_trigger_keeps_the_rules_of_the_surface_that_made_it(
    alice_client, acme_agent, surface
):
    response, _ = SURFACES[surface](alice_client, "cron", {"schedule": "0 9 * * *"})
    assert response.status_code in (200, 201), response.content
    trigger = Trigger.objects.get()
    trigger.config = {**trigger.config, "tz": "UTC"}

    with pytest.raises(ValidationError) as refused:
        trigger.full_clean()

    assert "config.tz" in refused.value.message_dict
