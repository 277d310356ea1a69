"""The ops console in the admin (docs/ops-console.md): the dashboard, the trigger page,
executions at scale (search, replay, cancel, bulk replay) and tenant scoping."""

import json
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.services import agent_create, project_create, tenant_member_ensure
from executions import heartbeats
from executions.models import Execution
from executions.scheduler import fire_due_triggers
from executions.services import replays
from executions.services.firing import execution_fire
from tests.conftest import BrokerQueues, purge_test_queue
from triggers.models import Trigger
from triggers.services import trigger_freeze

CHANGELIST = "admin:executions_execution_changelist"


def _fire(trigger, **fields) -> Execution:
    execution = execution_fire(trigger=trigger, execution_type="webhook", **fields).execution
    return execution


def _finish(execution: Execution, status: str, error: str = "") -> Execution:
    Execution.objects.filter(pk=execution.pk).update(
        status=status, error_message=error, completed_at=timezone.now()
    )
    execution.refresh_from_db()
    return execution


# -- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_counts_match_the_database(root, acme, make_trigger):
    hook = make_trigger(acme, "webhook", name="Hook")
    for status in ["completed", "completed", "failed", "cancelled"]:
        _finish(_fire(hook), status)
    _fire(hook)  # pending
    cron = make_trigger(acme, "cron", name="Nightly", cron_expression="0 3 * * *")
    frozen = make_trigger(acme, "cron", name="Flaky", cron_expression="0 4 * * *")
    trigger_freeze(trigger_id=frozen.pk, reason="Frozen after 5 failures: boom", at=timezone.now())
    heartbeats.heartbeat("scheduler", {"slot_lag_seconds": 0.042}, force=True)

    page = root.get(reverse("admin:index")).content.decode()

    assert 'id="count-completed">2<' in page
    assert 'id="count-failed">1<' in page
    assert 'id="count-pending">1<' in page
    assert 'id="count-total">5<' in page
    assert 'id="failure-rate">33.3 %<' in page  # 1 failed of 3 finished
    assert 'id="pending-count">1<' in page
    assert "Frozen after 5 failures: boom" in page
    assert f'id="unfreeze-{frozen.pk}"' in page
    assert "Nightly" in page  # among the next fires
    assert "0.042 s" in page  # the last slot's lag
    assert 'id="scheduler-age">0 s ago' in page
    # django-celery-beat's models are gone from the admin.
    assert "Periodic tasks" not in page and "Crontabs" not in page
    assert root.get("/admin/django_celery_beat/periodictask/").status_code == 404
    assert cron.pk


def test_unfreeze_from_the_dashboard_enables_the_trigger(root, acme, make_trigger):
    frozen = make_trigger(acme, "cron", cron_expression="0 4 * * *")
    trigger_freeze(trigger_id=frozen.pk, reason="boom", at=timezone.now())

    root.post(reverse("admin:triggers_trigger_act", args=[frozen.pk, "enable"]))

    frozen.refresh_from_db()
    assert (frozen.status, frozen.error_message, frozen.consecutive_failures) == ("active", "", 0)


# -- the trigger page ---------------------------------------------------------------------------


def test_the_trigger_page_shows_schedule_next_slots_and_timeline(root, acme, make_trigger):
    trigger = make_trigger(
        acme, "cron", cron_expression="0 9 * * 1-5", timezone="America/New_York",
        misfire_policy="skip", overlap_policy="skip",
    )  # fmt: skip
    slot = timezone.now().replace(hour=14, minute=0, second=0, microsecond=0)
    # Missed: two days of slots while "down"; then one slot skipped by the overlap policy.
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=slot - timedelta(days=7))
    Execution.objects.create(
        tenant=acme, trigger=trigger, execution_type="manual", status="running"
    )
    fire_due_triggers(now=slot + timedelta(days=1, seconds=1))

    page = root.get(reverse("admin:triggers_trigger_change", args=[trigger.pk])).content.decode()

    assert "At 09:00, Monday through Friday, America/New_York" in page
    assert page.count("<tr><td>20") >= 5  # the next five slots
    assert 'class="fire-missed"' in page
    assert "Missed while the scheduler was not running" in page
    for button in ("run_now", "enable", "disable", "duplicate"):
        assert f'id="trigger-{button}"' in page
    assert 'class="fire-skipped"' in page and "overlap" in page.lower()
    assert 'class="fire-disabled"' not in page


def test_a_frozen_triggers_timeline_says_why_it_does_not_fire(root, acme, make_trigger):
    trigger = make_trigger(acme, "cron", cron_expression="0 4 * * *")
    trigger_freeze(trigger_id=trigger.pk, reason="Frozen after 5 failures: boom", at=timezone.now())

    page = root.get(reverse("admin:triggers_trigger_change", args=[trigger.pk])).content.decode()

    assert 'class="fire-disabled"' in page
    assert "Failed: Frozen after 5 failures: boom" in page


def test_the_trigger_page_buttons_run_the_actions(root, acme, make_trigger):
    trigger = make_trigger(acme, "webhook", name="Hook")

    root.post(reverse("admin:triggers_trigger_act", args=[trigger.pk, "duplicate"]))
    root.post(reverse("admin:triggers_trigger_act", args=[trigger.pk, "run_now"]))
    root.post(reverse("admin:triggers_trigger_act", args=[trigger.pk, "disable"]))

    trigger.refresh_from_db()
    assert Trigger.objects.filter(name="Hook (copy)", status="inactive").exists()
    assert trigger.executions.get().execution_type == "manual"
    assert trigger.status == "inactive"


# -- executions: search, replay, cancel ---------------------------------------------------------


def test_search_by_id_idempotency_key_and_payload(root, acme, make_trigger):
    hook = make_trigger(acme, "webhook")
    opened = _fire(
        hook, idempotency_key="delivery-1", request_payload={"body": {"action": "opened"}}
    )
    closed = _fire(
        hook, idempotency_key="delivery-2", request_payload={"body": {"action": "closed"}}
    )
    url = reverse(CHANGELIST)

    def found(term: str) -> set[str]:
        page = root.get(url, {"q": term}).content.decode()
        return {e for e in (str(opened.execution_id), str(closed.execution_id)) if e in page}

    assert found(str(closed.execution_id)) == {str(closed.execution_id)}
    assert found("delivery-1") == {str(opened.execution_id)}
    assert found(json.dumps({"body": {"action": "opened"}})) == {str(opened.execution_id)}
    assert found('{"body": {}}') == {str(opened.execution_id), str(closed.execution_id)}
    assert found("nothing-like-it") == set()


def test_a_payload_search_matches_lists_and_nulls_and_refuses_no_key(root, acme, make_trigger):
    fired = _fire(
        make_trigger(acme, "webhook"), request_payload={"body": {"ids": [1, 2], "n": None}}
    )

    def found(term: str) -> bool:
        response = root.get(reverse(CHANGELIST), {"q": term})
        assert response.status_code == 200
        return str(fired.execution_id) in response.content.decode()

    assert found('{"body": {"ids": [1, 2], "n": null}}')
    assert not found('{"body": {"ids": [2]}, "n": 1}')
    assert not found('{"body": {"exact": 1}}')  # a key SQLite's lookups would take for theirs
    assert not found('{"body__n": null}')


def test_replay_makes_a_new_execution_with_the_same_input_linked(root, acme, make_trigger):
    hook = make_trigger(acme, "webhook")
    failed = _finish(
        _fire(hook, input_data={"x": 1}, request_payload={"body": {"x": 1}}), "failed", "boom"
    )

    response = root.post(reverse("admin:executions_execution_replay", args=[failed.pk]))

    replay = Execution.objects.get(replay_of=failed)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:executions_execution_change", args=[replay.pk])
    assert (replay.input_data, replay.request_payload) == ({"x": 1}, {"body": {"x": 1}})
    assert (replay.status, replay.execution_type) == ("pending", "webhook")
    page = root.get(reverse("admin:executions_execution_change", args=[failed.pk]))
    assert "1 replay(s)" in page.content.decode()


def test_a_replay_is_refused_by_the_firing_rules(root, acme, make_trigger):
    hook = make_trigger(acme, "webhook")
    failed = _finish(_fire(hook), "failed")
    trigger_freeze(trigger_id=hook.pk, reason="boom", at=timezone.now())

    page = root.post(
        reverse("admin:executions_execution_replay", args=[failed.pk]), follow=True
    ).content.decode()

    assert "Not replayed" in page
    assert not Execution.objects.filter(replay_of=failed).exists()


def test_cancel_from_the_execution_page(root, acme, make_trigger):
    pending = _fire(make_trigger(acme, "webhook"))

    root.post(reverse("admin:executions_execution_cancel", args=[pending.pk]))

    pending.refresh_from_db()
    assert pending.status == "cancelled"


def test_bulk_replay_confirms_the_count_then_sends_the_task(
    root, acme, make_trigger, django_capture_on_commit_callbacks
):
    hook = make_trigger(acme, "webhook")
    failed = [_finish(_fire(hook), "failed") for _ in range(3)]
    _finish(_fire(hook), "completed")
    url = reverse(CHANGELIST) + "?status__exact=failed"
    chosen = {"action": "replay_executions", "select_across": "1", "index": "0",
              "_selected_action": [failed[0].pk]}  # fmt: skip
    purge_test_queue()

    confirm = root.post(url, chosen).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = root.post(url, {**chosen, "confirmed": "yes"}, follow=True).content.decode()

    assert 'id="replay-count">Replay <strong>3</strong> executions?' in confirm
    assert "Replaying 3 execution(s) in the background" in done
    tasks = BrokerQueues().messages(settings.CELERY_TASK_DEFAULT_QUEUE)
    task = next(t for t in tasks if t["headers"]["task"] == replays.REPLAY_EXECUTIONS_TASK)
    assert set(task["headers"]["argsrepr"].strip("()").split("]")[0].strip("[").split(", ")) == {
        str(e.pk) for e in failed
    }


def test_the_bulk_replay_service_replays_each_and_reports_refusals(acme, make_trigger):
    hook = make_trigger(acme, "webhook")
    off = make_trigger(acme, "webhook", name="off")
    ok = [_finish(_fire(hook), "failed") for _ in range(2)]
    refused = _finish(_fire(off), "failed")
    Trigger.objects.filter(pk=off.pk).update(status="inactive")

    report = replays.executions_replay(execution_ids=[e.pk for e in [*ok, refused]] + [10**12])

    purge_test_queue()
    assert (report.replayed, report.refused, report.missing) == (2, 1, 1)
    assert set(
        Execution.objects.filter(replay_of__isnull=False).values_list("replay_of", flat=True)
    ) == {e.pk for e in ok}


def test_the_executions_list_never_counts_everything(root, acme, make_trigger, settings):
    settings.LIST_EXACT_COUNT_LIMIT = 3
    hook = make_trigger(acme, "webhook")
    for _ in range(5):
        _fire(hook)

    page = root.get(reverse(CHANGELIST), {"status__exact": "pending"}).content.decode()

    assert page.count('name="_selected_action"') == 5
    assert "5 total" not in page  # no full count next to the filtered one


# -- scoping ------------------------------------------------------------------------------------


def test_staff_see_and_replay_only_their_tenants(dave, acme, acme_agent, globex, make_trigger):
    project = project_create(tenant=globex, name="Globex project", public_id="gp")
    agent_create(tenant=globex, project=project, name="Globex agent", public_id="globex-agent")
    mine = _finish(_fire(make_trigger(acme, "webhook", name="acme-hook")), "failed")
    theirs_trigger = make_trigger(globex, "webhook", name="globex-hook")
    theirs = _finish(_fire(theirs_trigger), "failed")
    trigger_freeze(trigger_id=theirs_trigger.pk, reason="globex secret", at=timezone.now())

    home = dave.get(reverse("admin:index")).content.decode()
    blocked = dave.post(reverse("admin:executions_execution_replay", args=[theirs.pk]))
    act = dave.post(reverse("admin:triggers_trigger_act", args=[theirs_trigger.pk, "enable"]))
    report = replays.executions_replay(execution_ids=[mine.pk, theirs.pk], tenant_ids=["acme"])
    autocomplete = dave.get(
        "/admin/autocomplete/",
        {"app_label": "triggers", "model_name": "trigger", "field_name": "agent", "term": ""},
    )

    assert "globex" not in home and 'id="count-failed">1<' in home
    assert blocked.status_code == 404 and act.status_code == 404
    theirs_trigger.refresh_from_db()
    assert theirs_trigger.status == "failed"
    assert (report.replayed, report.missing) == (1, 1)
    assert not Execution.objects.filter(replay_of=theirs).exists()
    assert autocomplete.status_code == 200
    shown = {r["text"] for r in autocomplete.json()["results"]}
    assert shown and not any("Globex" in text for text in shown)


def test_view_only_staff_cannot_use_the_trigger_buttons(client, acme, alice, make_trigger):
    erin = tenant_member_ensure(username="erin", tenant_id="acme").user
    erin.is_staff = True
    erin.save()
    erin.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(erin)
    frozen = make_trigger(acme, "cron", cron_expression="0 4 * * *")
    trigger_freeze(trigger_id=frozen.pk, reason="boom", at=timezone.now())

    page = client.get(reverse("admin:triggers_trigger_change", args=[frozen.pk])).content.decode()
    client.post(reverse("admin:triggers_trigger_act", args=[frozen.pk, "enable"]))

    frozen.refresh_from_db()
    assert frozen.status == "failed"
    assert 'id="trigger-enable"' not in page and "trigger-schedule" in page
    assert f'id="unfreeze-{frozen.pk}"' not in client.get(reverse("admin:index")).content.decode()
