"""Backfill (docs/scheduling.md, "Backfill"): a schedule trigger's past slots between two
times, fired on purpose — each exactly once, capped, under the trigger's firing rules and
overlap policy, marked as backfills — through the service, the frontend API and the admin."""

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_create
from executions import dispatch
from executions.choices import ExecutionStatus, ExecutionType
from executions.models import Execution
from executions.scheduler import fire_due_triggers
from executions.services import lifecycle
from executions.services.backfill import backfill_slots, trigger_backfill
from executions.services.firing import FiringRefused
from tests.conftest import purge_test_queue
from triggers.models import Trigger
from triggers.services import trigger_disable

# A fixed past day for the service's tests (``now`` is given); the API's tests use real time.
DAY = datetime(2026, 11, 24, tzinfo=UTC)
NOW = DAY + timedelta(days=2)


def _hours(first: int, last: int) -> list[datetime]:
    return [DAY + timedelta(hours=h) for h in range(first, last + 1)]


def _slots_of(trigger) -> list[datetime]:
    return list(
        Execution.objects.filter(trigger=trigger)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )


@pytest.fixture
def hourly(acme, make_trigger):
    return make_trigger(acme, "cron", name="Hourly", cron_expression="0 * * * *")


@pytest.fixture(autouse=True)
def _no_messages_left():
    """The backfills' on-commit dispatch passes publish to the test queue: emptied after."""
    yield
    purge_test_queue()


# -- the service ----------------------------------------------------------------------------------


def test_it_fires_each_slot_between_start_and_end_once_marked_as_a_backfill(hourly, alice):
    done = trigger_backfill(
        trigger=hourly, start=DAY + timedelta(hours=2), end=DAY + timedelta(hours=6),
        requested_by=alice, now=NOW,
    )  # fmt: skip

    assert (done.created, done.existing, done.not_run) == (5, 0, 0)
    assert [s.scheduled_for for s in done.slots] == _hours(2, 6)  # both ends included
    assert _slots_of(hourly) == _hours(2, 6)
    for execution in Execution.objects.filter(trigger=hourly):
        assert execution.is_backfill
        assert execution.execution_type == ExecutionType.SCHEDULED
        assert execution.status == ExecutionStatus.PENDING
        assert execution.input_data == {
            "scheduled_for": execution.scheduled_for.isoformat(),
            "backfill": True,
            "requested_by": "alice",
        }
    assert {s.execution_id for s in done.slots} == set(
        Execution.objects.filter(trigger=hourly).values_list("execution_id", flat=True)
    )


def test_asked_twice_it_fires_only_the_slots_without_an_execution(hourly):
    first = trigger_backfill(
        trigger=hourly, start=DAY + timedelta(hours=2), end=DAY + timedelta(hours=4), now=NOW
    )
    again = trigger_backfill(
        trigger=hourly, start=DAY + timedelta(hours=1), end=DAY + timedelta(hours=5), now=NOW
    )

    assert (again.created, again.existing) == (2, 3)
    assert [s.outcome for s in again.slots] == ["created", "existing", "existing", "existing",
                                                 "created"]  # fmt: skip
    by_slot = {s.scheduled_for: s.execution_id for s in first.slots}
    assert all(by_slot[s.scheduled_for] == s.execution_id for s in again.slots[1:4])
    assert _slots_of(hourly) == _hours(1, 5)


def test_a_slot_the_scheduler_fired_or_recorded_is_not_fired_again(hourly):
    Trigger.objects.filter(pk=hourly.pk).update(next_fire_at=DAY + timedelta(hours=3))
    fire_due_triggers(now=DAY + timedelta(hours=3, seconds=1))
    scheduled = Execution.objects.get(trigger=hourly)

    done = trigger_backfill(
        trigger=hourly, start=DAY + timedelta(hours=2), end=DAY + timedelta(hours=4), now=NOW
    )

    assert [(s.outcome, s.execution_id) for s in done.slots][1] == (
        "existing", scheduled.execution_id
    )  # fmt: skip
    assert Execution.objects.filter(trigger=hourly).count() == 3
    assert not Execution.objects.get(pk=scheduled.pk).is_backfill


def test_slots_are_the_schedules_own_in_its_time_zone(acme, make_trigger):
    """09:00 in Berlin is 08:00 UTC before the clocks change and 07:00 after (Mar 29th)."""
    berlin = make_trigger(acme, "cron", cron_expression="0 9 * * *", timezone="Europe/Berlin")
    start = datetime(2026, 3, 27, tzinfo=UTC)

    slots = backfill_slots(trigger=berlin, start=start, end=start + timedelta(days=4), now=NOW)

    assert slots == [
        datetime(2026, 3, 27, 8, tzinfo=UTC),
        datetime(2026, 3, 28, 8, tzinfo=UTC),
        datetime(2026, 3, 29, 7, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]


def test_no_slot_after_the_schedules_expiration_date(acme, make_trigger, settings):
    trigger = make_trigger(acme, "cron", cron_expression="0 12 * * *")
    # Set as the frontend API's client keeps it; the date being over is checked only when set.
    Trigger.objects.filter(pk=trigger.pk).update(config={"expirationDate": "2026-11-25"})
    trigger.refresh_from_db()

    slots = backfill_slots(trigger=trigger, start=DAY, end=NOW, now=NOW)

    assert slots == [DAY + timedelta(hours=12), DAY + timedelta(days=1, hours=12)]


def test_over_the_cap_nothing_is_stored_and_the_error_says_the_cap_and_the_count(
    acme, make_trigger
):
    minutely = make_trigger(acme, "cron", cron_expression="* * * * *")

    with pytest.raises(ValidationError) as refused:
        trigger_backfill(trigger=minutely, start=DAY, end=DAY + timedelta(minutes=1000), now=NOW)

    message = refused.value.message_dict["end"][0]
    assert "has 1,001 slots" in message
    assert "at most 1,000 (BACKFILL_MAX_SLOTS)" in message
    assert "The first 1,000 end at 2026-11-24T16:39:00Z" in message
    assert not Execution.objects.exists()


def test_a_full_cap_is_fired(acme, make_trigger):
    minutely = make_trigger(acme, "cron", cron_expression="* * * * *", overlap_policy="allow")

    done = trigger_backfill(trigger=minutely, start=DAY, end=DAY + timedelta(minutes=999), now=NOW)

    assert done.created == 1000
    assert Execution.objects.filter(trigger=minutely, is_backfill=True).count() == 1000


def test_a_range_of_years_is_counted_up_to_a_bound(acme, make_trigger):
    minutely = make_trigger(acme, "cron", cron_expression="* * * * *")

    with pytest.raises(ValidationError, match="has more than 10,000 slots"):
        backfill_slots(trigger=minutely, start=DAY - timedelta(days=700), end=DAY, now=NOW)


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (DAY + timedelta(hours=5), DAY + timedelta(hours=2), "end", "end must be after start."),
        (DAY, DAY, "end", "end must be after start."),
        (DAY, NOW + timedelta(minutes=1), "end", "must not be in the future"),
        (datetime(1, 1, 1, tzinfo=UTC), DAY, "start", "start must be 1970-01-01T00:00:00Z"),
    ],
)
def test_a_range_that_is_not_a_past_range_is_refused(hourly, start, end, field, message):
    with pytest.raises(ValidationError) as refused:
        trigger_backfill(trigger=hourly, start=start, end=end, now=NOW)

    assert message in refused.value.message_dict[field][0]
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("webhook", {}, "Only schedule (cron) triggers have slots to backfill"),
        ("cron", {"is_single_execution": True}, "A single-execution trigger runs once"),
    ],
)
def test_a_trigger_without_slots_to_backfill_is_refused(acme, make_trigger, kind, fields, message):
    trigger = make_trigger(acme, kind, **fields)

    with pytest.raises(ValidationError) as refused:
        trigger_backfill(trigger=trigger, start=DAY, end=NOW, now=NOW)

    assert message in refused.value.message_dict["provider_trigger_id"][0]
    assert not Execution.objects.exists()


def test_an_inactive_trigger_is_not_backfilled(hourly, alice):
    trigger_disable(trigger=hourly, updated_by=alice)

    with pytest.raises(FiringRefused, match="The trigger is inactive"):
        trigger_backfill(trigger=hourly, start=DAY, end=NOW, now=NOW)

    assert not Execution.objects.exists()


def test_slots_over_a_limit_are_not_stored_and_say_why(acme, make_trigger):
    """The limits count executions stored in the last hour: real time here."""
    limited = make_trigger(acme, "cron", cron_expression="0 * * * *", max_executions_per_hour=2)

    done = trigger_backfill(trigger=limited, start=_past_hour(6), end=_past_hour(2))

    assert [s.outcome for s in done.slots] == ["created", "created"] + ["not_run"] * 3
    assert done.not_run_reason == "Over the limit of 2 executions per hour."
    # The others stay free for a later backfill.
    assert _slots_of(limited) == [_past_hour(6), _past_hour(5)]


# -- the overlap policy ---------------------------------------------------------------------------


def _dispatched(trigger) -> int:
    return Execution.objects.filter(trigger=trigger, dispatched_at__isnull=False).count()


@pytest.mark.parametrize(("policy", "at_once"), [("allow", 3), ("skip", 1), ("buffer_one", 1)])
def test_the_overlap_policy_says_whether_the_slots_run_at_once_or_in_turn(
    acme, make_trigger, settings, policy, at_once
):
    settings.EXECUTION_PUBLISH_BATCH_MS = 0  # each commit's dispatch pass runs at once
    trigger = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy=policy)

    done = trigger_backfill(trigger=trigger, start=DAY, end=DAY + timedelta(hours=2), now=NOW)
    dispatch.dispatch_waiting()

    assert done.one_after_another is (policy != "allow")
    assert _dispatched(trigger) == at_once
    if at_once == 1:  # the oldest slot goes first; the next only once it has finished
        first = Execution.objects.get(trigger=trigger, dispatched_at__isnull=False)
        assert first.scheduled_for == DAY
        started = lifecycle.executions_start(
            execution_ids=[s.execution_id for s in done.slots], worker_id="w"
        )
        assert [e.scheduled_for for e in started] == [DAY]  # the others may not start beside it
        lifecycle.execution_complete(execution=started[0])
        dispatch.dispatch_waiting()
        assert Execution.objects.get(
            trigger=trigger, dispatched_at__isnull=False, status="pending"
        ).scheduled_for == DAY + timedelta(hours=1)  # fmt: skip


@pytest.mark.parametrize("policy", ["skip", "buffer_one"])
def test_a_slot_in_turn_waits_while_its_trigger_awaits_a_posted_result(
    acme, make_trigger, settings, policy
):
    """A run whose agent answered 202 gives its place back (docs/runners.md) yet still runs:
    the next slot is not handed to a worker that would only send it back, pass after pass."""
    settings.EXECUTION_PUBLISH_BATCH_MS = 0
    trigger = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy=policy)
    done = trigger_backfill(trigger=trigger, start=DAY, end=DAY + timedelta(hours=1), now=NOW)
    dispatch.dispatch_waiting()
    (first,) = lifecycle.executions_start(
        execution_ids=[s.execution_id for s in done.slots], worker_id="w"
    )
    assert lifecycle.execution_await_result(execution=first) is not None

    assert dispatch.dispatch_waiting() == 0
    assert _dispatched(trigger) == 0  # the awaiting run holds no place; the next one waits

    lifecycle.execution_complete(execution=Execution.objects.get(pk=first.pk))
    assert dispatch.dispatch_waiting() == 1


def test_under_skip_the_triggers_own_slot_meets_the_waiting_backfill(acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy="skip")
    trigger_backfill(trigger=trigger, start=DAY, end=DAY + timedelta(hours=1), now=NOW)
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=NOW)

    fire_due_triggers(now=NOW)

    slot = Execution.objects.get(trigger=trigger, scheduled_for=NOW)
    assert (slot.status, slot.is_backfill) == (ExecutionStatus.CANCELLED, False)
    assert "still pending (overlap policy skip)" in slot.error_message


def test_a_backfill_waits_behind_the_events_of_other_tenants(acme, globex, make_trigger, settings):
    """The dispatch class ``backfill`` comes last (EXECUTION_DISPATCH_CLASSES)."""
    settings.EXECUTION_PUBLISH_BATCH_MS = 0
    settings.EXECUTION_MAX_IN_FLIGHT = 1
    cron = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy="allow")
    hook = make_trigger(globex, "webhook")
    Execution.objects.create(tenant=hook.tenant, trigger=hook, execution_type="webhook")
    trigger_backfill(trigger=cron, start=DAY, end=DAY + timedelta(hours=1), now=NOW)
    Execution.objects.update(dispatched_at=None)  # as if the places had been full until now

    dispatch.dispatch_waiting()

    assert Execution.objects.get(dispatched_at__isnull=False).trigger_id == hook.pk


# -- the frontend API -----------------------------------------------------------------------------


def _past_hour(hours_ago: int) -> datetime:
    return timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def _range(first_hours_ago: int, last_hours_ago: int) -> dict:
    return {
        "start": _past_hour(first_hours_ago).isoformat().replace("+00:00", "Z"),
        "end": _past_hour(last_hours_ago).isoformat().replace("+00:00", "Z"),
    }


def test_the_api_backfills_and_shows_each_slot(alice_client, hourly):
    url = f"/api/triggers/{hourly.pk}/backfill"

    made = alice_client.post(url, _range(5, 3), format="json")
    again = alice_client.post(url, _range(5, 3), format="json")

    assert made.status_code == 201, made.json()
    body = made.json()
    assert (body["created"], body["existing"], body["not_run"]) == (3, 0, 0)
    assert (body["overlap_policy"], body["runs"]) == ("skip", "one_after_another")
    assert body["not_run_reason"] is None
    assert [s["scheduled_for"] for s in body["slots"]] == [
        _past_hour(h).isoformat().replace("+00:00", "Z") for h in (5, 4, 3)
    ]
    assert {s["outcome"] for s in body["slots"]} == {"created"}
    assert {s["status"] for s in body["slots"]} == {0}
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["existing"]) == (0, 3)
    assert [s["execution_id"] for s in again.json()["slots"]] == [
        s["execution_id"] for s in body["slots"]
    ]
    history = alice_client.get(f"/api/triggers/{hourly.pk}/executions").json()
    assert len(history) == 3
    assert all(e["is_backfill"] and e["execution_type"] == "scheduled" for e in history)


def test_an_ordinary_execution_says_it_is_not_a_backfill(alice_client, hourly):
    execution = alice_client.post(f"/api/triggers/{hourly.pk}/test").json()

    assert execution["is_backfill"] is False
    assert alice_client.get(f"/api/executions/{execution['id']}").json()["is_backfill"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end": "2026-11-24T10:00:00Z"}, "start"),
        ({"start": "2026-11-24T10:00:00Z"}, "end"),
        ({"start": 5, "end": "2026-11-24T10:00:00Z"}, "start"),
        ({"start": "yesterday", "end": "2026-11-24T10:00:00Z"}, "start"),
        ({"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T09:00:00Z"}, "end"),
        ({"start": "2026-11-24T10:00:00Z", "end": "2999-01-01T00:00:00Z"}, "end"),
        ({"start": "0001-01-01T00:00:00Z", "end": "2026-11-24T10:00:00Z"}, "start"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(alice_client, hourly, body, field):
    answer = alice_client.post(f"/api/triggers/{hourly.pk}/backfill", body, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert not Execution.objects.exists()


def test_the_api_refuses_a_webhook_trigger_by_its_type(alice_client, acme, make_trigger):
    hook = make_trigger(acme, "webhook")

    answer = alice_client.post(f"/api/triggers/{hook.pk}/backfill", _range(3, 1), format="json")

    assert answer.status_code == 400
    assert "Only schedule (cron) triggers" in answer.json()["trigger_type"][0]
    assert not Execution.objects.exists()


def test_the_api_answers_409_for_an_inactive_trigger(alice_client, alice, hourly):
    trigger_disable(trigger=hourly, updated_by=alice)

    answer = alice_client.post(f"/api/triggers/{hourly.pk}/backfill", _range(3, 1), format="json")

    assert answer.status_code == 409
    assert answer.json() == {"detail": "The trigger is inactive."}
    assert not Execution.objects.exists()


def test_another_tenants_trigger_is_not_found_and_a_viewer_may_not(
    charlie_client, bob_client, hourly
):
    url = f"/api/triggers/{hourly.pk}/backfill"

    assert charlie_client.post(url, _range(3, 1), format="json").status_code == 404
    assert bob_client.post(url, _range(3, 1), format="json").status_code == 403
    assert not Execution.objects.exists()


@pytest.mark.postgresql_only  # row locks and concurrent transactions: PostgreSQL's
@pytest.mark.django_db(transaction=True)
def test_two_clients_racing_get_each_slot_exactly_once(
    race, acme, alice_membership, make_trigger, settings
):
    settings.EXECUTION_PUBLISH_BATCH_MS = 0  # each answer's dispatch pass in its own thread
    trigger = make_trigger(acme, "cron", cron_expression="*/5 * * * *", overlap_policy="allow")
    tokens = [api_token_create(membership=alice_membership)[1] for _ in range(4)]
    # Overlapping ranges: 12:00-14:00 and 13:00-15:00, each asked by two clients at once.
    hour = _past_hour(6)
    ranges = [
        (hour, hour + timedelta(hours=2)),
        (hour + timedelta(hours=1), hour + timedelta(hours=3)),
    ]
    asked = iter([(tokens[i], ranges[i % 2]) for i in range(4)])
    lock = threading.Lock()

    def backfill():
        with lock:
            token, (start, end) = next(asked)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        body = {"start": start.isoformat(), "end": end.isoformat()}
        return client.post(f"/api/triggers/{trigger.pk}/backfill", body, format="json")

    answers = race(backfill, 4)

    assert all(a.status_code in (200, 201) for a in answers), answers
    slots = _slots_of(trigger)
    assert slots == [hour + timedelta(minutes=5 * n) for n in range(37)]  # 12:00 … 15:00
    assert sum(a.json()["created"] for a in answers) == 37
    for answer in answers:  # each answer names, for each slot, the one execution there is
        for slot in answer.json()["slots"]:
            assert slot["outcome"] in ("created", "existing")
            assert Execution.objects.filter(execution_id=slot["execution_id"]).exists()
    purge_test_queue()


# -- on a real worker -----------------------------------------------------------------------------


class CountingRuntime(BaseHTTPRequestHandler):
    """An agent runtime that counts the runs it holds at once. Each answer waits until
    ``hold_until`` runs have been held together, or ``hold_seconds``: runs that may overlap
    get every chance to."""

    lock = threading.Lock()
    arrived = threading.Condition(lock)
    in_flight = most = 0
    hold_until, hold_seconds = 1, 0.0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        with cls.arrived:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
            cls.arrived.notify_all()
            cls.arrived.wait_for(lambda: cls.most >= cls.hold_until, timeout=cls.hold_seconds)
        answer = b'{"output": {"answer": 42}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        with cls.lock:
            cls.in_flight -= 1

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("policy", "together", "hold"),
    [("skip", 1, (2, 3.0)), ("allow", 3, (3, 30.0))],  # (hold_until, hold_seconds)
)
def test_backfilled_slots_run_on_a_real_worker_marked_and_in_turn_or_together(
    start_worker, wait_for, acme, make_trigger, settings, policy, together, hold
):
    CountingRuntime.in_flight = CountingRuntime.most = 0
    CountingRuntime.hold_until, CountingRuntime.hold_seconds = hold
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingRuntime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EXECUTION_RUNNER = "http"  # agent runs: one a message, each on a thread
    try:
        start_worker(
            AGENT_RUNTIME_URL=f"http://127.0.0.1:{server.server_port}/run",
            AGENT_RUNTIME_SIGNING_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            EXECUTION_RUNNER="http",
            POOL="threads",
            CONCURRENCY="4",
        )
        trigger = make_trigger(acme, "cron", cron_expression="0 * * * *", overlap_policy=policy)
        start = _past_hour(5)
        trigger_backfill(trigger=trigger, start=start, end=start + timedelta(hours=2))

        wait_for(
            lambda: Execution.objects.filter(status="completed").count() == 3,
            timeout=90,
            message="the backfill did not complete",
        )
    finally:
        server.shutdown()
    # skip: one at a time, though each run waited for a second; allow: all three at once.
    assert CountingRuntime.most == together
    runs = list(Execution.objects.filter(trigger=trigger).order_by("started_at"))
    assert all(run.is_backfill for run in runs)
    if policy == "skip":  # in turn, oldest slot first
        assert [run.scheduled_for for run in runs] == [start + timedelta(hours=h) for h in range(3)]
    trigger.refresh_from_db()
    assert (trigger.execution_count, trigger.last_execution_status) == (3, "completed")


# -- the admin ------------------------------------------------------------------------------------


def _form(hours_ago_start: int, hours_ago_end: int, step: str) -> dict:
    return {
        "start": _past_hour(hours_ago_start).strftime("%Y-%m-%d %H:%M"),
        "end": _past_hour(hours_ago_end).strftime("%Y-%m-%d %H:%M"),
        "backfill_step": step,
    }


def test_the_trigger_page_has_a_backfill_button_for_schedules_only(
    root, acme, make_trigger, hourly
):
    hook = make_trigger(acme, "webhook")

    cron_page = root.get(reverse("admin:triggers_trigger_change", args=[hourly.pk])).content
    hook_page = root.get(reverse("admin:triggers_trigger_change", args=[hook.pk])).content

    assert b'id="trigger-backfill"' in cron_page
    assert b'id="trigger-backfill"' not in hook_page


def test_the_admin_asks_the_range_confirms_the_count_then_backfills(root, hourly):
    url = reverse("admin:triggers_trigger_act", args=[hourly.pk, "backfill"])

    form = root.post(url)
    preview = root.post(url, _form(4, 2, "preview"))
    done = root.post(url, _form(4, 2, "confirm"), follow=True)
    again = root.post(url, _form(4, 2, "confirm"), follow=True)

    assert b'id="preview-backfill"' in form.content
    assert not Execution.objects.exclude(trigger=hourly).exists()
    assert b'id="backfill-count"' in preview.content
    assert "has <strong>3</strong> slots: <strong>3</strong> to fire" in preview.content.decode()
    assert b'value="Yes, fire 3"' in preview.content
    messages = [str(m) for m in done.context["messages"]]
    assert any("3 slot(s) fired, 0 already had an execution" in m for m in messages), messages
    assert any("They run one after another (overlap policy skip)" in m for m in messages)
    assert _slots_of(hourly) == [_past_hour(h) for h in (4, 3, 2)]
    assert all(Execution.objects.values_list("is_backfill", flat=True))
    repeated = [str(m) for m in again.context["messages"]]
    assert any("0 slot(s) fired, 3 already had an execution" in m for m in repeated), repeated
    assert Execution.objects.count() == 3
    page = root.get(reverse("admin:triggers_trigger_change", args=[hourly.pk])).content.decode()
    assert page.count('class="fire-backfill"') == 3


def test_the_admin_form_shows_the_services_errors(root, hourly):
    url = reverse("admin:triggers_trigger_act", args=[hourly.pk, "backfill"])

    backwards = root.post(url, _form(2, 4, "preview")).content.decode()
    future = root.post(url, {**_form(2, 0, "confirm"), "end": "2999-01-01 00:00"}).content.decode()

    assert "end must be after start." in backwards
    assert "must not be in the future" in future
    assert not Execution.objects.exists()


def test_the_backfill_action_from_the_list_takes_one_trigger(root, acme, make_trigger, hourly):
    other = make_trigger(acme, "cron", cron_expression="0 * * * *")
    changelist = reverse("admin:triggers_trigger_changelist")

    two = root.post(
        changelist, {"action": "backfill", "_selected_action": [hourly.pk, other.pk]}, follow=True
    )
    one = root.post(
        changelist,
        {
            "action": "backfill",
            "_selected_action": [hourly.pk],
            "index": 0,
            **_form(3, 2, "confirm"),
        },
        follow=True,
    )

    assert any("one trigger at a time" in str(m) for m in two.context["messages"])
    assert any("2 slot(s) fired" in str(m) for m in one.context["messages"])
    assert _slots_of(hourly) == [_past_hour(3), _past_hour(2)]
    assert not Execution.objects.filter(trigger=other).exists()


def test_the_executions_admin_shows_and_filters_backfills(root, hourly):
    trigger_backfill(trigger=hourly, start=_past_hour(3), end=_past_hour(2))
    execution = Execution.objects.first()

    page = root.get(reverse("admin:executions_execution_change", args=[execution.pk]))
    listed = root.get(reverse("admin:executions_execution_changelist") + "?is_backfill__exact=1")

    assert b"Is backfill" in page.content
    assert listed.status_code == 200
    assert str(execution.execution_id).encode() in listed.content
