"""A file_system trigger's config over the agent API: a watch_path must lie inside
FILE_WATCH_ROOTS after ``..`` and symlinks, and every other setting is checked."""

import pytest

from triggers.models import Trigger


def put(client, *configs):
    items = [{"trigger_id": "file_system", "config": config} for config in configs]
    return client.put("/agents/triage/triggers", {"triggers": items}, format="json")


def test_a_watch_path_inside_the_roots_is_stored_as_declared(alice_client, acme_agent, watch_root):
    config = {"watch_path": str(watch_root / "in"), "patterns": ["*.csv"], "recursive": True}

    response = put(alice_client, config)

    assert response.status_code == 200, response.content
    assert response.json()["triggers"][0]["config"] == config
    assert Trigger.objects.get().config == config


@pytest.mark.parametrize(
    "watch_path",
    ["/etc", "{root}/in/../..", "{root}/../outside", "{root}/escape", "{root}/escape/deeper"],
    ids=["outside", "dotdot", "dotdot-sibling", "symlink", "below-a-symlink"],
)
def test_a_watch_path_that_leaves_the_roots_is_a_400_naming_it(
    alice_client, acme_agent, watch_root, tmp_path, watch_path
):
    (tmp_path / "outside").mkdir()
    (watch_root / "escape").symlink_to(tmp_path / "outside")

    response = put(alice_client, {"watch_path": watch_path.format(root=watch_root)})

    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["triggers[0].config.watch_path"], body
    assert str(watch_root) in body["triggers[0].config.watch_path"][0]  # names the roots
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("patterns", "*.csv", "patterns"), ("events", ["renamed"], "events[0]"),
     ("recursive", "true", "recursive"), ("settle_seconds", 7200, "settle_seconds"),
     ("settle_seconds", "1", "settle_seconds")],
)  # fmt: skip
def test_a_bad_setting_is_a_400_naming_its_key(
    alice_client, acme_agent, watch_root, key, value, named
):
    response = put(alice_client, {"watch_path": str(watch_root / "in"), key: value})

    assert response.status_code == 400
    assert list(response.json()) == [f"triggers[0].config.{named}"]
    assert not Trigger.objects.exists()


def test_the_second_item_is_named_and_nothing_is_stored(alice_client, acme_agent, watch_root):
    response = put(alice_client, {"watch_path": str(watch_root / "in")}, {"watch_path": "/tmp"})

    assert response.status_code == 400
    assert list(response.json()) == ["triggers[1].config.watch_path"]
    assert not Trigger.objects.exists()
