"""Issue 20: the frontend API meets its real client, the trigger dialog of a desktop app.

The client's requests are replayed as it sends them — the two creates of the issue verbatim,
an update with the same fields minus trigger_type / project_id / space_id, the list, a
trigger's executions, a delete — and the fields it reads are checked; then each ``config``
key shows its effect; and no response carries a timestamp written with ``+00:00`` (the
client appends ``Z`` unless one is there).
"""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.services import project_create
from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.runners import RunnerError
from executions.scheduler import fire_due_triggers
from executions.services import lifecycle
from triggers import services as trigger_services
from triggers.choices import TriggerStatus
from triggers.models import Trigger

# The issue's bodies carry dates (2026-12-24, 2027-01-31): the clock the trigger services
# check dates and arm schedules with is set before them, so the replay means the same
# whatever day the suite runs. The scheduler is driven with explicit moments.
FROZEN = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
DIGEST_SLOT = datetime(2026, 12, 24, 14, 30, tzinfo=UTC)


# The issue's two bodies, as the client sends them (only "<project id>" is filled in).
ISSUE_BODIES = """
{"name": "Daily digest", "description": "", "space_id": "sp_1", "trigger_type": "schedule",
 "custom_cron_expression": "30 14 * * *", "listener_type": "workforce", "webhook_method": "POST",
 "agent_model": "", "task_prompt": "Summarize the news", "project_id": "<project id>",
 "config": {"max_failure_count": 5, "date": "2026-12-24", "expirationDate": "2027-01-31"}}

{"name": "Orders", "description": "", "space_id": "sp_1", "trigger_type": "webhook",
 "custom_cron_expression": "0 0 * * *", "listener_type": "workforce", "webhook_method": "POST",
 "agent_model": "", "task_prompt": "Handle the order", "project_id": "<project id>",
 "config": {"max_failure_count": 5, "authentication_required": true, "body_contains": "order",
            "required_headers": ["X-Shop"], "include_headers": true, "include_query_params": false,
            "include_request_metadata": true}}
"""


def _issue_body(index: int, project_id: str) -> dict:
    text = ISSUE_BODIES.strip().split("\n\n")[index]
    return json.loads(text.replace("<project id>", project_id))


def daily_digest(project_id: str) -> dict:
    return _issue_body(0, project_id)


def orders(project_id: str) -> dict:
    return _issue_body(1, project_id)


def as_update(body: dict) -> dict:
    """The client's update: the create's fields minus trigger_type, project_id and space_id."""
    return {k: v for k, v in body.items() if k not in ("trigger_type", "project_id", "space_id")}


# What the client reads of a Trigger (seed 000 plus what it sends), with the JSON types.
TRIGGER_READ = {
    "id": int, "user_id": str, "name": str, "description": str, "trigger_type": str,
    "status": int, "webhook_url": (str, type(None)), "custom_cron_expression": (str, type(None)),
    "listener_type": (str, type(None)), "system_message": str, "agent_model": str,
    "task_prompt": str, "custom_task": (dict, type(None)),
    "max_executions_per_hour": (int, type(None)), "max_executions_per_day": (int, type(None)),
    "is_single_execution": bool, "last_executed_at": (str, type(None)),
    "last_execution_status": (str, type(None)), "execution_count": int, "error_count": int,
    "created_at": str, "updated_at": str, "config": dict, "webhook_method": (str, type(None)),
    "space_id": (str, type(None)), "project_id": (str, type(None)),
}  # fmt: skip
EXECUTION_READ = {
    "id": int, "trigger_id": int, "execution_id": str, "execution_type": str, "status": int,
    "started_at": (str, type(None)), "completed_at": (str, type(None)),
    "duration_seconds": (float, type(None)), "input_data": (dict, type(None)),
    "output_data": (dict, type(None)), "error_message": (str, type(None)), "retry_count": int,
    "max_retries": int, "tokens_used": (int, type(None)),
    "tools_executed": (list, dict, type(None)), "worker_id": (str, type(None)), "created_at": str,
    "updated_at": str,
}  # fmt: skip
Z_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
PLUS_ZERO = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]00:?00")


def assert_read_fields(body: dict, fields: dict) -> None:
    for name, types in fields.items():
        assert name in body, name
        assert isinstance(body[name], types), (name, body[name])
    for name in ("created_at", "updated_at", "last_executed_at", "started_at", "completed_at"):
        if body.get(name) is not None:
            assert Z_TIMESTAMP.match(body[name]), (name, body[name])


class Recorder:
    """The API client, keeping every response's raw body for the +00:00 walk."""

    def __init__(self, client):
        self.client = client
        self.bodies: list[bytes] = []

    def __getattr__(self, method):
        call = getattr(self.client, method)

        def send(*args, **kwargs):
            response = call(*args, **kwargs)
            self.bodies.append(response.content)
            return response

        return send


@pytest.fixture
def clock(monkeypatch):
    """The trigger services' clock (what they read of django.utils.timezone), set to FROZEN;
    move it with ``clock.now = …``. The engine keeps the real one: the scheduler is given
    its moments (``fire_due_triggers(now=…)``)."""

    class Clock:
        now = FROZEN

    class FrozenTimezone:
        now = staticmethod(lambda: Clock.now)

    monkeypatch.setattr(trigger_services, "timezone", FrozenTimezone)
    return Clock


@pytest.fixture
def api(alice_client):
    return Recorder(alice_client)


@pytest.fixture
def project(acme):
    return project_create(tenant=acme, name="Shop", public_id="prj_shop")


def deliver(client, trigger_body: dict, body: bytes, **headers):
    url = trigger_body["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    return client.post(f"/{url}", data=body, content_type="application/json", headers=headers)


ORDER = json.dumps({"order": {"id": 7, "total": 12.5}}).encode()


def test_the_client_s_requests_are_answered_as_it_reads_them(api, client, clock, project, settings):
    settings.EXECUTION_RUNNER = "dry_run"
    # -- the two creates, verbatim: 201 each ------------------------------------------------
    digest_response = api.post("/api/triggers", daily_digest(project.public_id), format="json")
    orders_response = api.post("/api/triggers", orders(project.public_id), format="json")
    assert digest_response.status_code == 201, digest_response.json()
    assert orders_response.status_code == 201, orders_response.json()
    digest, hook = digest_response.json(), orders_response.json()
    for body in (digest, hook):
        assert_read_fields(body, TRIGGER_READ)
        assert (body["status"], body["project_id"], body["space_id"]) == (1, "prj_shop", "sp_1")
        assert body["listener_type"] == "workforce" and body["max_executions_per_hour"] is None
    assert digest["config"] == daily_digest("x")["config"]
    assert (digest["trigger_type"], digest["custom_cron_expression"]) == ("schedule", "30 14 * * *")
    assert (digest["webhook_url"], digest["webhook_method"], digest["webhook_secret"]) == (
        None, None, None,
    )  # fmt: skip
    assert digest["next_fire_at"] == "2026-12-24T14:30:00Z"  # the one-time run
    assert hook["config"] == orders("x")["config"]
    assert hook["trigger_type"] == "webhook" and hook["custom_cron_expression"] is None
    assert hook["webhook_url"].startswith(settings.PUBLIC_BASE_URL + "/hooks/")
    assert hook["webhook_method"] == "POST"
    secret = hook["webhook_secret"]
    assert secret.startswith("whsk_") and len(secret) > 40  # shown once, here
    stored = Trigger.objects.get(pk=hook["id"])
    assert stored.project == project and stored.cron_expression == ""
    assert secret not in json.dumps(Trigger.objects.filter(pk=hook["id"]).values()[0], default=str)

    # -- the list -----------------------------------------------------------------------------
    listed = api.get("/api/triggers")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [hook["id"], digest["id"]]  # newest first
    for body in listed.json():
        assert_read_fields(body, TRIGGER_READ)
        assert body["webhook_secret"] is None  # never again
    assert api.get("/api/triggers?trigger_type=webhook&status=1").json()[0]["id"] == hook["id"]

    # -- the updates: the same fields minus trigger_type, project_id and space_id -------------
    for created, sent in ((digest, daily_digest), (hook, orders)):
        updated = api.patch(
            f"/api/triggers/{created['id']}", as_update(sent(project.public_id)), format="json"
        )
        assert updated.status_code == 200, updated.json()
        body = updated.json()
        assert_read_fields(body, TRIGGER_READ)
        assert body["config"] == created["config"] and body["webhook_secret"] is None
        assert (body["project_id"], body["space_id"]) == ("prj_shop", "sp_1")  # kept
    assert api.get(f"/api/triggers/{hook['id']}").json()["custom_cron_expression"] is None
    assert (
        Trigger.objects.get(pk=hook["id"]).webhook_endpoint.secret_digest
        == stored.webhook_endpoint.secret_digest
    )

    # -- executions: an order delivered, the digest's one-time run, a test run -----------------
    delivered = deliver(client, hook, ORDER, X_Shop="shop-1", X_Webhook_Secret=secret)
    assert delivered.status_code == 202, delivered.content
    assert fire_due_triggers(now=DIGEST_SLOT + timedelta(seconds=5)).fired == 1
    for execution in Execution.objects.filter(status=ExecutionStatus.PENDING):
        lifecycle.execution_run(execution_id=execution.execution_id)
    assert api.post(f"/api/triggers/{hook['id']}/test").status_code == 201

    history = api.get(f"/api/triggers/{hook['id']}/executions")
    assert history.status_code == 200 and history["X-Total-Count"] == "2"
    test_run, webhook_run = history.json()
    for body in (test_run, webhook_run):
        assert_read_fields(body, EXECUTION_READ)
    assert (webhook_run["execution_type"], webhook_run["status"]) == ("webhook", 2)
    assert webhook_run["input_data"]["payload"] == {"order": {"id": 7, "total": 12.5}}
    assert Z_TIMESTAMP.match(webhook_run["input_data"]["request"]["received_at"])
    digest_runs = api.get(f"/api/triggers/{digest['id']}/executions").json()
    assert [(e["execution_type"], e["status"]) for e in digest_runs] == [("scheduled", 2)]
    assert digest_runs[0]["input_data"] == {"scheduled_for": "2026-12-24T14:30:00Z"}
    dry_run_request = digest_runs[0]["output_data"]["request"]
    assert dry_run_request["scheduled_for"] == "2026-12-24T14:30:00Z"
    assert (
        api.get(f"/api/executions/{digest_runs[0]['id']}").json()["output_data"]
        == (digest_runs[0]["output_data"])
    )
    assert api.get(f"/api/triggers/{digest['id']}").json()["status"] == 3  # Completed

    # -- delete --------------------------------------------------------------------------------
    assert api.delete(f"/api/triggers/{hook['id']}").status_code == 204
    assert not Trigger.objects.filter(pk=hook["id"]).exists()
    assert not Execution.objects.filter(trigger_id=hook["id"]).exists()
    assert api.get(f"/api/triggers/{hook['id']}").status_code == 404

    # -- no response wrote a timestamp with +00:00 -----------------------------------------------
    api.post("/api/credentials", {"name": "shop-key", "value": "k"}, format="json")
    for companion in ("/api/projects", "/api/agents", "/api/credentials", "/api/executions"):
        assert api.get(companion).status_code == 200
    assert len(api.bodies) > 10
    for raw in api.bodies:
        assert not PLUS_ZERO.search(raw.decode()), raw[:300]


def test_stored_timestamps_with_an_offset_are_shown_with_z(alice_client, acme, make_trigger):
    """Executions stored before (the scheduler's input), a runner's or an agent's output, a
    skipped-slot record: every UTC timestamp in them is shown ending in Z."""
    trigger = make_trigger(acme, "cron", cron_expression="0 9 * * *")
    slot = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=slot + timedelta(days=1))
    Execution.objects.create(
        tenant=acme, trigger=trigger, execution_type="scheduled", scheduled_for=slot,
        input_data={"scheduled_for": slot.isoformat(), "skipped_slots": [slot.isoformat()]},
        output_data={"at": "2026-11-24T09:00:01.250000+00:00", "local": "2026-11-24T10:00:00+01:00",
                     "nested": [{"when": "2026-11-24 09:00:00+0000"}], "text": "+00:00"},
        tools_executed=[{"started": "2026-11-24T09:00:00-00:00"}],
    )  # fmt: skip
    fire_due_triggers(now=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))  # a skipped-slot record

    for url in (f"/api/triggers/{trigger.id}/executions", "/api/executions"):
        response = alice_client.get(url)
        assert response.status_code == 200
        assert not PLUS_ZERO.search(response.content.decode()), response.content
    shown = alice_client.get(f"/api/triggers/{trigger.id}/executions").json()[-1]
    assert shown["input_data"]["scheduled_for"] == "2026-11-24T09:00:00Z"
    assert shown["output_data"] == {
        "at": "2026-11-24T09:00:01.250000Z", "local": "2026-11-24T10:00:00+01:00",
        "nested": [{"when": "2026-11-24 09:00:00Z"}], "text": "+00:00",
    }  # fmt: skip
    assert shown["tools_executed"] == [{"started": "2026-11-24T09:00:00Z"}]


# -- each config key, shown by its effect -------------------------------------------------------


def schedule_body(**config) -> dict:
    return {"name": "Digest", "trigger_type": "schedule", "custom_cron_expression": "30 14 * * *",
            "config": config}  # fmt: skip


def test_date_a_one_time_schedule_fires_once_then_is_completed(alice_client, clock, settings):
    settings.EXECUTION_RUNNER = "dry_run"
    created = alice_client.post("/api/triggers", schedule_body(date="2026-12-24"), format="json")
    assert created.status_code == 201, created.json()
    trigger = Trigger.objects.get(pk=created.json()["id"])
    assert trigger.next_fire_at == DIGEST_SLOT

    assert fire_due_triggers(now=DIGEST_SLOT - timedelta(minutes=1)).fired == 0
    assert fire_due_triggers(now=DIGEST_SLOT + timedelta(seconds=1)).fired == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at is None and trigger.status == TriggerStatus.ACTIVE
    lifecycle.execution_run(execution_id=Execution.objects.get().execution_id)

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.COMPLETED
    assert alice_client.get(f"/api/triggers/{trigger.id}").json()["status"] == 3
    for day in range(1, 4):  # the cron's later slots never fire
        fire_due_triggers(now=DIGEST_SLOT + timedelta(days=day, seconds=1))
    assert Execution.objects.count() == 1


def test_date_the_cron_s_first_slot_that_day_in_the_trigger_s_time_zone(alice_client, clock):
    body = {**schedule_body(date="2026-12-24"), "timezone": "Asia/Tokyo"}
    created = alice_client.post("/api/triggers", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["next_fire_at"] == "2026-12-24T05:30:00Z"  # 14:30 in Tokyo


def test_date_a_one_time_slot_missed_all_day_leaves_the_trigger_stale(alice_client, clock):
    created = alice_client.post("/api/triggers", schedule_body(date="2026-12-24"), format="json")
    trigger = Trigger.objects.get(pk=created.json()["id"])

    fire_due_triggers(now=datetime(2026, 12, 25, 0, 0, 30, tzinfo=UTC))  # Beat was down

    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.STALE
    assert trigger.error_message == "Its one-time date 2026-12-24 (UTC) passed without a run."
    assert not Execution.objects.exclude(status=ExecutionStatus.CANCELLED).exists()


def test_expiration_date_an_expired_schedule_is_stale_and_does_not_fire(alice_client, clock):
    created = alice_client.post(
        "/api/triggers", schedule_body(expirationDate="2026-12-03"), format="json"
    )
    assert created.status_code == 201, created.json()
    trigger = Trigger.objects.get(pk=created.json()["id"])
    last_slot = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)

    assert fire_due_triggers(now=datetime(2026, 12, 2, 14, 30, 1, tzinfo=UTC)).fired == 1
    Execution.objects.update(status=ExecutionStatus.COMPLETED)  # ran (no overlap to skip)
    assert fire_due_triggers(now=last_slot + timedelta(seconds=1)).fired == 1
    trigger.refresh_from_db()
    end_of_day = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert (trigger.status, trigger.next_fire_at) == (TriggerStatus.ACTIVE, end_of_day)

    assert fire_due_triggers(now=end_of_day + timedelta(seconds=1)).fired == 0
    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.STALE and trigger.next_fire_at is None
    assert trigger.error_message == "Expired: its expirationDate 2026-12-03 (UTC) has passed."
    assert alice_client.get(f"/api/triggers/{trigger.id}").json()["status"] == 2
    assert fire_due_triggers(now=datetime(2026, 12, 4, 14, 30, 1, tzinfo=UTC)).fired == 0
    assert Execution.objects.count() == 2


def test_expiration_date_missed_slots_are_not_caught_up_after_it(alice_client, clock):
    created = alice_client.post(
        "/api/triggers", schedule_body(expirationDate="2026-12-03"), format="json"
    )
    trigger = Trigger.objects.get(pk=created.json()["id"])

    report = fire_due_triggers(now=datetime(2026, 12, 6, 9, 0, tzinfo=UTC))  # Beat was down

    assert report.fired == 0
    trigger.refresh_from_db()
    assert trigger.status == TriggerStatus.STALE
    skipped = Execution.objects.get()  # one record stands for the two slots it missed
    assert skipped.status == ExecutionStatus.CANCELLED
    assert skipped.input_data["skipped_count"] == 2


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"date": "2026-12-01"}, "config.date"),
        ({"date": "2026-12-02"}, "config.date"),  # today, once its 14:30 has passed
        ({"expirationDate": "2026-12-01"}, "config.expirationDate"),
        ({"date": "24/12/2026"}, "config.date"),
        # Issue 25: dates whose day, or the day after, overflows in a time zone (a 500 before).
        ({"date": "9999-12-31"}, "config.date"),
        ({"date": "0001-01-01"}, "config.date"),
        ({"expirationDate": "9999-12-31"}, "config.expirationDate"),
        ({"expirationDate": "0001-01-01"}, "config.expirationDate"),
        ({"date": "2026-02-30"}, "config.date"),
        ({"expirationDate": 20261224}, "config.expirationDate"),
        ({"date": "2026-12-24", "expirationDate": "2026-12-20"}, "config.date"),
        ({"max_failure_count": 0}, "config.max_failure_count"),
        ({"max_failure_count": "5"}, "config.max_failure_count"),
        ({"max_failure_count": True}, "config.max_failure_count"),
    ],
)
def test_bad_schedule_config_is_a_400_naming_the_key(alice_client, clock, config, key):
    if config == {"date": "2026-12-02"}:
        clock.now = FROZEN.replace(hour=15)  # today's 14:30 has passed
    response = alice_client.post("/api/triggers", schedule_body(**config), format="json")
    assert response.status_code == 400
    assert key in response.json(), response.json()
    assert not Trigger.objects.exists()


def test_date_needs_a_slot_of_the_cron_that_day(alice_client, clock):
    body = {**schedule_body(date="2026-12-24"), "custom_cron_expression": "0 9 * * 1"}  # Thursday
    response = alice_client.post("/api/triggers", body, format="json")
    assert response.status_code == 400
    assert "has no slot on 2026-12-24" in response.json()["config.date"][0]


def test_a_date_that_has_passed_is_kept_when_the_client_sends_it_again(alice_client, clock):
    """A trigger that ran on its date keeps it: the client's update re-sends the config."""
    created = alice_client.post(
        "/api/triggers", schedule_body(expirationDate="2026-12-10"), format="json"
    )
    clock.now = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
    Trigger.objects.filter(pk=created.json()["id"]).update(status=TriggerStatus.STALE)

    again = alice_client.patch(
        f"/api/triggers/{created.json()['id']}",
        {"name": "Renamed", "config": {"expirationDate": "2026-12-10"}},
        format="json",
    )
    assert again.status_code == 200 and again.json()["status"] == 2
    enabled = alice_client.patch(
        f"/api/triggers/{created.json()['id']}", {"status": 1}, format="json"
    )
    assert enabled.status_code == 400 and "config.expirationDate" in enabled.json()
    extended = alice_client.patch(
        f"/api/triggers/{created.json()['id']}",
        {"status": 1, "config": {"expirationDate": "2026-12-31"}},
        format="json",
    )
    assert extended.status_code == 200 and extended.json()["status"] == 1


def test_max_failure_count_freezes_after_that_many_failures(alice_client, settings, monkeypatch):
    settings.TRIGGER_FAILURE_THRESHOLD = 5

    def failing_runner(execution, abandoned):
        raise RunnerError("The agent is down.")

    monkeypatch.setattr(lifecycle, "run_agent", failing_runner)
    created = alice_client.post(
        "/api/triggers",
        {"name": "Fragile", "trigger_type": "webhook", "config": {"max_failure_count": 2}},
        format="json",
    )
    trigger_id = created.json()["id"]
    Trigger.objects.filter(pk=trigger_id).update(max_retries=0)

    for expected in (TriggerStatus.ACTIVE, TriggerStatus.FAILED):
        alice_client.post(f"/api/triggers/{trigger_id}/test")
        lifecycle.execution_run(execution_id=Execution.objects.latest("id").execution_id)
        assert Trigger.objects.get(pk=trigger_id).status == expected

    shown = alice_client.get(f"/api/triggers/{trigger_id}").json()
    assert shown["status"] == 0 and shown["error_count"] == 2
    assert shown["error_message"].startswith("Frozen after 2 consecutive failed executions")


def webhook_body(**config) -> dict:
    return {"name": "Orders", "trigger_type": "webhook", "config": config}


def test_body_contains_a_delivery_without_the_text_is_filtered_and_counted(alice_client, client):
    hook = alice_client.post(
        "/api/triggers", webhook_body(body_contains="order"), format="json"
    ).json()

    filtered = deliver(client, hook, b'{"refund": {"id": 7}}')

    assert filtered.status_code == 200, filtered.content
    assert filtered.json() == {
        "status": "filtered",
        "detail": "Filtered: the body does not contain the text this trigger requires.",
    }
    assert not Execution.objects.exists()
    assert deliver(client, hook, b'{"refund": 1}').status_code == 200
    shown = alice_client.get(f"/api/triggers/{hook['id']}").json()
    assert (shown["filtered_count"], shown["execution_count"]) == (2, 0)
    assert deliver(client, hook, ORDER).status_code == 202
    assert Execution.objects.count() == 1
    assert Trigger.objects.get(pk=hook["id"]).filtered_count == 2


def test_required_headers_a_delivery_missing_one_is_filtered(alice_client, client):
    hook = alice_client.post(
        "/api/triggers", webhook_body(required_headers=["X-Shop", ""]), format="json"
    ).json()

    filtered = deliver(client, hook, ORDER)
    assert filtered.status_code == 200
    assert filtered.json()["detail"] == "Filtered: the required header 'X-Shop' is missing."
    assert deliver(client, hook, ORDER, x_shop="s1").status_code == 202  # any case
    assert Trigger.objects.get(pk=hook["id"]).filtered_count == 1
    assert Execution.objects.count() == 1


def test_authentication_required_the_sender_presents_the_secret_shown_once(alice_client, client):
    created = alice_client.post("/api/triggers", webhook_body(authentication_required=True),
                                format="json").json()  # fmt: skip
    secret = created["webhook_secret"]

    missing = deliver(client, created, ORDER)
    wrong = deliver(client, created, ORDER, X_Webhook_Secret=secret + "x")
    assert (missing.status_code, missing.json()["code"]) == (401, "missing_credentials")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "invalid_credentials")
    assert not Execution.objects.exists()
    assert deliver(client, created, ORDER, X_Webhook_Secret=secret).status_code == 202
    stored = Execution.objects.get()
    assert secret not in json.dumps(stored.request_payload)

    copy = alice_client.post(f"/api/triggers/{created['id']}/duplicate").json()
    assert copy["webhook_secret"] and copy["webhook_secret"] != secret  # a secret of its own
    off = alice_client.patch(
        f"/api/triggers/{created['id']}", {"config": {"authentication_required": False}},
        format="json",
    )  # fmt: skip
    assert off.json()["webhook_secret"] is None
    assert deliver(client, created, ORDER).status_code == 202
    on = alice_client.patch(
        f"/api/triggers/{created['id']}", {"config": {"authentication_required": True}},
        format="json",
    ).json()  # fmt: skip
    assert on["webhook_secret"] and on["webhook_secret"] != secret  # a new one, shown once
    assert deliver(client, created, ORDER, X_Webhook_Secret=secret).status_code == 403


def test_include_keys_decide_what_the_input_carries(alice_client, client):
    plain = alice_client.post("/api/triggers", webhook_body(), format="json").json()
    everything = alice_client.post(
        "/api/triggers",
        webhook_body(include_headers=True, include_query_params=True,
                     include_request_metadata=True),
        format="json",
    ).json()  # fmt: skip

    for hook in (plain, everything):
        url = hook["webhook_url"].split("/hooks/", 1)[1]
        response = client.post(f"/hooks/{url}?shop=s1", data=ORDER,
                               content_type="application/json",
                               headers={"X-Shop": "s1", "Authorization": "Bearer t"})  # fmt: skip
        assert response.status_code == 202, response.content

    plain_input = Execution.objects.get(trigger_id=plain["id"]).input_data
    assert set(plain_input) == {"message", "payload"}
    full = Execution.objects.get(trigger_id=everything["id"]).input_data
    assert set(full) == {"message", "payload", "headers", "query", "request"}
    assert full["headers"]["X-Shop"] == "s1" and "Authorization" not in full["headers"]
    assert full["query"] == {"shop": "s1"}
    request = full["request"]
    assert request["method"] == "POST" and request["content_type"] == "application/json"
    assert request["content_length"] == len(ORDER)
    assert Z_TIMESTAMP.match(request["received_at"])


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"authentication_required": "yes"}, "config.authentication_required"),
        ({"body_contains": 5}, "config.body_contains"),
        ({"required_headers": "X-Shop"}, "config.required_headers"),
        ({"required_headers": ["X Shop"]}, "config.required_headers[0]"),
        ({"include_headers": 1}, "config.include_headers"),
        ({"max_failure_count": -1}, "config.max_failure_count"),
    ],
)
def test_bad_webhook_config_is_a_400_naming_the_key(alice_client, config, key):
    response = alice_client.post("/api/triggers", webhook_body(**config), format="json")
    assert response.status_code == 400
    assert key in response.json(), response.json()
    assert not Trigger.objects.exists()


def test_unknown_config_keys_are_kept_as_they_are(alice_client, clock):
    config = {"theme": {"color": "#ff0"}, "date": "soon", "steps": [1, None, "x"]}
    created = alice_client.post("/api/triggers", webhook_body(**config), format="json")
    assert created.status_code == 201, created.json()  # a schedule key on a webhook: unused
    assert created.json()["config"] == config
    assert Trigger.objects.get().config == config


def test_webhook_method_is_the_one_method_the_url_accepts(alice_client, client):
    hook = alice_client.post(
        "/api/triggers", {**webhook_body(), "webhook_method": "PUT"}, format="json"
    ).json()
    assert hook["webhook_method"] == "PUT"
    url = "/hooks/" + hook["webhook_url"].split("/hooks/", 1)[1]

    refused = client.post(url, data=ORDER, content_type="application/json")
    assert refused.status_code == 405 and refused["Allow"] == "PUT"
    accepted = client.put(url, data=ORDER, content_type="application/json")
    assert accepted.status_code == 202, accepted.content
    assert Execution.objects.get().request_payload["method"] == "PUT"

    as_get = alice_client.patch(f"/api/triggers/{hook['id']}", {"webhook_method": "GET"},
                                format="json")  # fmt: skip
    assert as_get.json()["webhook_method"] == "GET"
    assert client.put(url, data=ORDER, content_type="application/json")["Allow"] == "GET"
    assert client.get(url + "?order=1").status_code == 202
    bad = alice_client.patch(
        f"/api/triggers/{hook['id']}", {"webhook_method": "HEAD"}, format="json"
    )
    assert bad.status_code == 400 and "webhook_method" in bad.json()


def test_webhook_method_on_other_types_is_ignored(alice_client):
    created = alice_client.post(
        "/api/triggers", {**schedule_body(), "webhook_method": "GET"}, format="json"
    )
    assert created.status_code == 201 and created.json()["webhook_method"] is None
    assert not hasattr(Trigger.objects.get(), "webhook_endpoint")  # a schedule has no URL


def test_project_id_names_a_project_of_the_caller_s_tenant(alice_client, acme, globex):
    project_create(tenant=globex, name="Theirs", public_id="prj_theirs")
    for project_id in ("prj_theirs", "prj_nope", 5):
        response = alice_client.post(
            "/api/triggers", {**webhook_body(), "project_id": project_id}, format="json"
        )
        assert response.status_code == 400 and "project_id" in response.json()
    assert not Trigger.objects.exists()
    none = alice_client.post("/api/triggers", {**webhook_body(), "project_id": None},
                             format="json")  # fmt: skip
    assert none.status_code == 201 and none.json()["project_id"] is None


def test_space_id_is_an_opaque_label(alice_client):
    created = alice_client.post(
        "/api/triggers", {**webhook_body(), "space_id": "any thing/ü"}, format="json"
    ).json()
    assert created["space_id"] == "any thing/ü"
    assert Trigger.objects.get().space_id == "any thing/ü"
    cleared = alice_client.patch(f"/api/triggers/{created['id']}", {"space_id": None},
                                 format="json")  # fmt: skip
    assert cleared.json()["space_id"] is None


def test_the_filtered_count_and_fields_show_in_the_admin(admin_client, acme, make_trigger):
    trigger = make_trigger(acme, "webhook", space_id="sp_1", config={"body_contains": "x"})
    Trigger.objects.filter(pk=trigger.pk).update(filtered_count=3)

    changelist = admin_client.get("/admin/triggers/trigger/")
    page = admin_client.get(f"/admin/triggers/trigger/{trigger.pk}/change/")

    assert changelist.status_code == page.status_code == 200
    assert b"filtered" in changelist.content.lower()
    assert b"sp_1" in page.content and b"Filtered count" in page.content


def test_today_is_a_valid_date_until_its_slot_passes(alice_client, clock):
    today = date(2026, 12, 2).isoformat()
    response = alice_client.post("/api/triggers", schedule_body(date=today), format="json")
    assert response.status_code == 201
    assert response.json()["next_fire_at"] == "2026-12-02T14:30:00Z"
