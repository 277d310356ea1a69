"""Seed 000, ``/api/triggers``: every endpoint, its fields, JSON types and errors."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from executions.models import Execution
from triggers.models import Trigger

# Seed 000 "Trigger": field -> allowed JSON types (None = null allowed).
TRIGGER_FIELDS = {
    "id": (int,),
    "user_id": (str,),
    "name": (str,),
    "description": (str,),
    "trigger_type": (str,),
    "status": (int,),
    "webhook_url": (str, type(None)),
    "custom_cron_expression": (str, type(None)),
    "listener_type": (str, type(None)),
    "system_message": (str,),
    "agent_model": (str,),
    "task_prompt": (str,),
    "custom_task": (dict, type(None)),
    "max_executions_per_hour": (int, type(None)),
    "max_executions_per_day": (int, type(None)),
    "is_single_execution": (bool,),
    "last_executed_at": (str, type(None)),
    "last_execution_status": (str, type(None)),
    "execution_count": (int,),
    "error_count": (int,),
    "created_at": (str,),
    "updated_at": (str,),
}

SCHEDULE = {
    "name": "Morning digest",
    "description": "Every weekday at 9",
    "trigger_type": "schedule",
    "custom_cron_expression": "0 9 * * 1-5",
    "listener_type": "workforce",
    "system_message": "You are terse.",
    "agent_model": "gpt-4o-mini",
    "task_prompt": "Summarise yesterday's tickets",
    "custom_task": {"channels": ["#support"]},
    "max_executions_per_hour": 2,
    "max_executions_per_day": 5,
    "is_single_execution": False,
}


def assert_trigger_shape(body: dict) -> None:
    for field, types in TRIGGER_FIELDS.items():
        assert field in body, field
        assert isinstance(body[field], types), (field, body[field])
    assert body["trigger_type"] in {"schedule", "webhook", "slack_trigger"}
    assert body["status"] in {0, 1, 2, 3}


def test_it_creates_a_schedule_trigger(alice_client, alice, acme):
    response = alice_client.post("/api/triggers", SCHEDULE, format="json")
    assert response.status_code == 201
    body = response.json()
    assert_trigger_shape(body)
    assert body["status"] == 1
    assert body["user_id"] == str(alice.pk)
    assert body["custom_cron_expression"] == "0 9 * * 1-5"
    assert body["webhook_url"] is None
    assert body["execution_count"] == 0 and body["error_count"] == 0

    stored = Trigger.objects.get(pk=body["id"])
    assert stored.tenant == acme and stored.created_by == alice
    assert (stored.provider_id, stored.provider_trigger_id) == ("builtin", "cron")
    assert stored.cron_expression == "0 9 * * 1-5"
    assert stored.custom_task == {"channels": ["#support"]}
    assert stored.next_fire_at is not None


def test_it_creates_a_webhook_trigger_with_a_generated_url(alice_client, settings):
    response = alice_client.post(
        "/api/triggers",
        {"name": "Inbound", "trigger_type": "webhook", "webhook_url": "https://evil.example/x"},
        format="json",
    )
    assert response.status_code == 201
    url = response.json()["webhook_url"]
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/hooks/")
    assert "evil" not in url
    assert Trigger.objects.get(pk=response.json()["id"]).webhook_url == url


def test_it_creates_a_slack_trigger(alice_client):
    response = alice_client.post(
        "/api/triggers", {"name": "Mentions", "trigger_type": "slack_trigger"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["trigger_type"] == "slack_trigger"
    stored = Trigger.objects.get(pk=response.json()["id"])
    assert (stored.provider_id, stored.provider_trigger_id) == ("slack", "event")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"custom_cron_expression": "not a cron"}, "custom_cron_expression"),
        ({"custom_cron_expression": "61 * * * *"}, "custom_cron_expression"),
        ({"custom_cron_expression": None}, "custom_cron_expression"),
        ({"custom_cron_expression": ""}, "custom_cron_expression"),
        ({"max_executions_per_hour": -1}, "max_executions_per_hour"),
        ({"max_executions_per_day": 0}, "max_executions_per_day"),
        ({"trigger_type": "carrier_pigeon"}, "trigger_type"),
        ({"listener_type": "robot"}, "listener_type"),
        ({"name": ""}, "name"),
        ({"custom_task": "not an object"}, "custom_task"),
        ({"is_single_execution": "maybe"}, "is_single_execution"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        # JSON types are not coerced (accounts/api/strict.py).
        ({"name": 0.0}, "name"),
        ({"max_executions_per_hour": "5"}, "max_executions_per_hour"),
        ({"max_executions_per_day": 5.0}, "max_executions_per_day"),
        ({"is_single_execution": 1}, "is_single_execution"),
        ({"trigger_type": ["schedule"]}, "trigger_type"),
    ],
)
def test_bad_input_gets_400_naming_the_field_and_stores_nothing(alice_client, patch, field):
    response = alice_client.post("/api/triggers", {**SCHEDULE, **patch}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert response.json()[field][0]
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("trigger_type", ["webhook", "slack_trigger"])
def test_a_webhook_or_slack_trigger_ignores_a_cron(alice_client, trigger_type):
    # Issue 20: the client's dialog sends its schedule tab's cron with every trigger type.
    response = alice_client.post(
        "/api/triggers",
        {"name": "x", "trigger_type": trigger_type, "custom_cron_expression": "* * * * *"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["custom_cron_expression"] is None
    stored = Trigger.objects.get()
    assert stored.cron_expression == "" and stored.next_fire_at is None

    update = alice_client.patch(
        f"/api/triggers/{stored.id}", {"custom_cron_expression": "0 0 * * *"}, format="json"
    )
    assert update.status_code == 200 and update.json()["custom_cron_expression"] is None
    stored.refresh_from_db()
    assert stored.cron_expression == ""


def test_null_optional_text_is_stored_as_none_given(alice_client):
    # Every optional string of TriggerInput / TriggerUpdate takes null alike.
    nulls = {"description": None, "system_message": None, "agent_model": None,
             "task_prompt": None}  # fmt: skip
    created = alice_client.post(
        "/api/triggers", {"name": "x", "trigger_type": "webhook", **nulls}, format="json"
    )
    assert created.status_code == 201, created.content
    stored = Trigger.objects.get()
    assert (stored.description, stored.system_message, stored.task_prompt) == ("", "", "")

    stored.description = "Was set"
    stored.save(update_fields=["description"])
    updated = alice_client.patch(f"/api/triggers/{stored.id}", nulls, format="json")
    assert updated.status_code == 200, updated.content
    stored.refresh_from_db()
    assert stored.description == ""


def test_it_gets_a_trigger(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    response = alice_client.get(f"/api/triggers/{trigger.id}")
    assert response.status_code == 200
    assert_trigger_shape(response.json())
    assert response.json()["id"] == trigger.id
    # A trailing slash is tolerated, never required.
    assert alice_client.get(f"/api/triggers/{trigger.id}/").status_code == 200
    assert alice_client.get("/api/triggers/999999").status_code == 404


def test_it_updates_a_trigger(alice_client, acme, make_trigger):
    trigger = make_trigger(acme, cron_expression="0 9 * * *")
    response = alice_client.patch(
        f"/api/triggers/{trigger.id}",
        {
            "name": "Renamed",
            "custom_cron_expression": "30 8 * * *",
            "status": 0,
            "max_executions_per_day": None,
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert_trigger_shape(body)
    assert (body["name"], body["custom_cron_expression"], body["status"]) == (
        "Renamed",
        "30 8 * * *",
        0,
    )
    trigger.refresh_from_db()
    assert trigger.name == "Renamed" and trigger.cron_expression == "30 8 * * *"
    assert trigger.status == "inactive" and trigger.next_fire_at is None

    reenabled = alice_client.patch(f"/api/triggers/{trigger.id}", {"status": 1}, format="json")
    assert reenabled.json()["status"] == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at.hour == 8 and trigger.next_fire_at.minute == 30


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"status": 2}, "status"),
        ({"status": 3}, "status"),
        ({"status": 9}, "status"),
        ({"custom_cron_expression": "nope"}, "custom_cron_expression"),
        ({"max_executions_per_hour": -5}, "max_executions_per_hour"),
        ({"status": "0"}, "status"),
        ({"status": True}, "status"),
    ],
)
def test_bad_updates_get_400_and_change_nothing(alice_client, acme, make_trigger, patch, field):
    trigger = make_trigger(acme, cron_expression="0 9 * * *", name="Keep")
    response = alice_client.patch(
        f"/api/triggers/{trigger.id}", {"name": "Changed", **patch}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    trigger.refresh_from_db()
    assert (trigger.name, trigger.status, trigger.cron_expression) == (
        "Keep",
        "active",
        "0 9 * * *",
    )


def test_it_deletes_a_trigger_and_its_history(alice_client, acme, make_trigger):
    trigger = make_trigger(acme)
    alice_client.post(f"/api/triggers/{trigger.id}/test")
    response = alice_client.delete(f"/api/triggers/{trigger.id}")
    assert response.status_code == 204
    assert not Trigger.objects.exists() and not Execution.objects.exists()


def test_it_duplicates_a_trigger(alice_client, acme, make_trigger):
    original = make_trigger(acme, "webhook", task_prompt="go", max_executions_per_hour=3)
    Trigger.objects.filter(pk=original.pk).update(execution_count=9, error_count=4)
    response = alice_client.post(f"/api/triggers/{original.id}/duplicate")
    assert response.status_code == 201
    body = response.json()
    assert_trigger_shape(body)
    assert body["id"] != original.id
    assert body["status"] == 0
    assert (body["execution_count"], body["error_count"]) == (0, 0)
    assert body["task_prompt"] == "go" and body["max_executions_per_hour"] == 3
    assert body["webhook_url"] and body["webhook_url"] != original.webhook_url
    assert Trigger.objects.count() == 2


def test_the_list_shows_only_frontend_types(alice_client, acme, make_trigger):
    make_trigger(acme)
    make_trigger(acme, "file_system", config={"watch_path": str(settings.FILE_WATCH_ROOTS[0])})
    body = alice_client.get("/api/triggers").json()
    assert isinstance(body, list) and len(body) == 1
    assert_trigger_shape(body[0])


def test_filters_change_the_result(alice_client, acme, make_trigger):
    cron = make_trigger(acme)
    hook = make_trigger(acme, "webhook")
    off = make_trigger(acme, "webhook")
    alice_client.patch(f"/api/triggers/{off.id}", {"status": 0}, format="json")

    def ids(query: str) -> list[int]:
        response = alice_client.get(f"/api/triggers?{query}")
        assert response.status_code == 200
        return sorted(t["id"] for t in response.json())

    assert ids("trigger_type=webhook") == sorted([hook.id, off.id])
    assert ids("trigger_type=schedule") == [cron.id]
    assert ids("status=0") == [off.id]
    assert ids("status=1") == sorted([cron.id, hook.id])
    assert ids("status=1&trigger_type=webhook") == [hook.id]
    assert ids("status=3") == []


@pytest.mark.parametrize(
    "query", ["status=7", "status=active", "trigger_type=cron", "sort_by=name", "order=up"]
)
def test_unknown_filter_values_get_400_naming_the_parameter(alice_client, acme, query):
    response = alice_client.get(f"/api/triggers?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_sorts_change_the_order(alice_client, acme, make_trigger):
    now = timezone.now()
    a = make_trigger(acme, name="a")
    b = make_trigger(acme, name="b")
    c = make_trigger(acme, name="c")
    Trigger.objects.filter(pk=a.pk).update(
        execution_count=5,
        last_executed_at=now - timedelta(hours=1),
        created_at=now - timedelta(days=3),
    )
    Trigger.objects.filter(pk=b.pk).update(
        execution_count=1, last_executed_at=now, created_at=now - timedelta(days=2)
    )
    Trigger.objects.filter(pk=c.pk).update(execution_count=3, created_at=now - timedelta(days=1))

    def names(query: str) -> list[str]:
        return [t["name"] for t in alice_client.get(f"/api/triggers?{query}").json()]

    assert names("") == ["c", "b", "a"]  # default: newest first
    assert names("sort_by=created_at&order=asc") == ["a", "b", "c"]
    assert names("sort_by=execution_count&order=desc") == ["a", "c", "b"]
    assert names("sort_by=execution_count&order=asc") == ["b", "c", "a"]
    # Never-run triggers sort last in both directions.
    assert names("sort_by=last_executed_at&order=desc") == ["b", "a", "c"]
    assert names("sort_by=last_executed_at&order=asc") == ["a", "b", "c"]


def test_lists_are_paged_with_limit_and_offset(alice_client, acme, make_trigger):
    for index in range(5):
        make_trigger(acme, name=f"t{index}")
    response = alice_client.get("/api/triggers?limit=2&offset=1&sort_by=created_at&order=asc")
    assert [t["name"] for t in response.json()] == ["t1", "t2"]
    assert response["X-Total-Count"] == "5"


def test_the_list_does_a_constant_number_of_queries(
    alice_client, acme, make_trigger, django_assert_max_num_queries
):
    for index in range(20):
        make_trigger(acme, name=f"t{index}")
    with django_assert_max_num_queries(6):
        assert len(alice_client.get("/api/triggers").json()) == 20


def test_an_empty_filter_value_is_an_error_not_no_filter(alice_client, acme):
    response = alice_client.get("/api/triggers?trigger_type=")
    assert response.status_code == 400 and "trigger_type" in response.json()


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "offset=-1", "offset=null"])
def test_bad_paging_parameters_get_400(alice_client, acme, query):
    response = alice_client.get(f"/api/triggers?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_a_nul_character_in_json_is_refused_not_a_server_error(alice_client):
    response = alice_client.post(
        "/api/triggers",
        {**SCHEDULE, "custom_task": {"note": "a\u0000b"}},
        format="json",
    )
    assert response.status_code == 400 and "custom_task" in response.json()
    assert not Trigger.objects.exists()


def test_form_bodies_are_refused_with_415(alice_client):
    response = alice_client.post("/api/triggers", {"name": "x", "trigger_type": "webhook"})
    assert response.status_code == 415
    assert not Trigger.objects.exists()
