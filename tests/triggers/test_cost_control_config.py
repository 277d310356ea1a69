"""config.debounce and config.throttle: one definition (triggers/cost_control.py, in every
event type's catalog entry), so each surface refuses a bad value with the same field and
stores nothing; event types only."""

import pytest

from tests.triggers.test_one_config_definition import SURFACES, assert_refused
from triggers import catalog, cost_control
from triggers.models import Trigger


def _whole(surface: str, config: dict) -> dict:
    """The agent API requires a webhook's path (catalog.AGENT_CONFIG)."""
    return {"path": "/debounced", **config} if surface == "agent" else config


BAD = [
    ({"debounce": {"period_seconds": 0}}, "debounce.period_seconds"),
    ({"debounce": {"period_seconds": 604801}}, "debounce.period_seconds"),
    ({"debounce": {}}, "debounce.period_seconds"),
    ({"debounce": {"period_seconds": 5, "mode": "middle"}}, "debounce.mode"),
    ({"debounce": {"period_seconds": 5, "key": "a["}}, "debounce.key"),
    ({"debounce": {"period_seconds": 5, "key": "a" + " || a" * 5000}}, "debounce.key"),
    ({"debounce": {"period_seconds": 10, "max_wait_seconds": 5}}, "debounce.max_wait_seconds"),
    ({"debounce": {"period_seconds": 10, "mode": "leading", "max_wait_seconds": 20}},
     "debounce.max_wait_seconds"),
    ({"debounce": {"period_seconds": 10, "extra": 1}}, "debounce.extra"),
    ({"throttle": {"limit": 0, "period_seconds": 60}}, "throttle.limit"),
    ({"throttle": {"limit": 2}}, "throttle.period_seconds"),
    ({"throttle": {"limit": True, "period_seconds": 60}}, "throttle.limit"),
    ({"throttle": {"limit": 2, "period_seconds": 60, "key": 5}}, "throttle.key"),
]  # fmt: skip


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
@pytest.mark.parametrize(("config", "named"), BAD)
def test_a_bad_debounce_or_throttle_is_named_by_every_surface(
    alice_client, acme_agent, surface, config, named
):
    response, prefix = SURFACES[surface](alice_client, "webhook", _whole(surface, config))

    assert_refused(response, prefix, named)


@pytest.mark.parametrize("surface", ["agent", "provider", "frontend"])
def test_a_good_debounce_and_throttle_are_stored_by_every_surface(
    alice_client, acme_agent, surface
):
    config = {
        "debounce": {"key": "customer.id", "period_seconds": 5, "max_wait_seconds": 60},
        "throttle": {"limit": 10, "period_seconds": 60},
    }

    response, _prefix = SURFACES[surface](alice_client, "webhook", _whole(surface, config))

    assert response.status_code in (200, 201), response.content
    stored = Trigger.objects.get().config
    assert stored["debounce"] == config["debounce"] and stored["throttle"] == config["throttle"]


def test_every_event_type_takes_them_and_a_schedule_does_not():
    for entry in catalog.trigger_types():
        properties = entry.config_schema.get("properties", {})
        if entry.delivery == "schedule":
            assert "debounce" not in properties
            assert entry.config_errors(
                {"schedule": "* * * * *", "debounce": {"period_seconds": 5}}
            ) == {"trigger_config.debounce": f"Not a setting of {entry.trigger_id} triggers."}
        else:
            assert properties["debounce"] is cost_control.DEBOUNCE_SCHEMA, entry.key
            assert properties["throttle"] is cost_control.THROTTLE_SCHEMA, entry.key


def test_it_reads_what_a_firing_needs():
    assert cost_control.cost_control({}) is None
    assert cost_control.cost_control({"debounce": None, "throttle": None}) is None
    read = cost_control.cost_control(
        {"debounce": {"period_seconds": 5}, "throttle": {"limit": 3, "period_seconds": 10}}
    )
    assert read.debounce.period.total_seconds() == 5
    assert not read.debounce.leading
    assert read.debounce.max_wait.total_seconds() == cost_control.MAX_PERIOD_SECONDS
    assert (read.throttle.limit, read.throttle.period.total_seconds()) == (3, 10)
    # A value stored unchecked reads as off, never as an error at delivery time.
    assert cost_control.cost_control({"debounce": {"period_seconds": "5"}}) is None


def test_a_key_groups_by_its_value_and_a_failing_key_groups_apart():
    digest = cost_control.key_digest
    assert digest("customer.id", {"customer": {"id": 1}}) == digest(
        "customer.id", {"customer": {"id": 1}, "x": 2}
    )
    assert digest("customer.id", {"customer": {"id": 1}}) != digest(
        "customer.id", {"customer": {"id": "1"}}
    )
    assert digest(None, {"a": 1}) == digest(None, {"b": 2})
    assert len(digest("customer.id", {"customer": {"id": "x" * 100_000}})) == 64
    multiplied = "@" + " | [@,@]" * 40
    assert digest(multiplied, {"a": "x" * 1000}) == digest(multiplied, {"b": "y" * 1000})
    assert digest(multiplied, {"a": 1}) != digest(None, {"a": 1})
