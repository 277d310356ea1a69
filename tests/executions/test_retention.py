"""Retention (executions/services/retention.py; docs/scheduling.md, "Retention"): finished
executions past their tenant's retention are deleted in bounded batches, never a pending or
running one, and the triggers' counters stay; the lists and the admin say how far history
goes."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Tenant
from accounts.services import agent_create, project_create
from executions.models import Execution
from executions.services import firing, lifecycle, replays
from executions.services.retention import executions_prune
from executions.tasks import prune_executions
from tests.conftest import BrokerQueues
from triggers.models import Trigger
from triggers.services import trigger_enable

DAY = timedelta(days=1)
COUNTERS = [
    "execution_count", "error_count", "consecutive_failures", "last_executed_at",
    "last_execution_status", "error_message", "error_at", "status",
]  # fmt: skip


def _aged(execution: Execution, *, created_days: float, finished_days: float | None) -> Execution:
    """The execution as if created (and finished) that many days ago."""
    now = timezone.now()
    Execution.objects.filter(pk=execution.pk).update(
        created_at=now - created_days * DAY,
        completed_at=None if finished_days is None else now - finished_days * DAY,
    )
    return execution


def _row(trigger, status: str, *, days: float, finished_days: float | None = None) -> Execution:
    """An execution of ``trigger`` in ``status``, created ``days`` ago and, unless pending or
    running, finished ``finished_days`` (default: the same) ago."""
    execution = Execution.objects.create(
        tenant_id=trigger.tenant_id, trigger=trigger, execution_type="webhook", status=status
    )
    finished = None if status in ("pending", "running") else (finished_days or days)
    return _aged(execution, created_days=days, finished_days=finished)


def _alive(*executions: Execution) -> set[int]:
    return set(
        Execution.objects.filter(pk__in=[e.pk for e in executions]).values_list("pk", flat=True)
    )


def _counters(trigger: Trigger) -> dict:
    trigger.refresh_from_db()
    return {name: getattr(trigger, name) for name in COUNTERS}


def _run(trigger, *, fail: bool = False) -> Execution:
    """A test run of ``trigger`` through the engine's services, completed by the dry_run
    runner or failed: the trigger's counters move as in production."""
    execution = firing.execution_create_test(trigger=trigger)
    if not fail:
        return lifecycle.execution_run(execution_id=execution.execution_id)
    started = lifecycle.execution_start(execution_id=execution.execution_id, worker_id="test")
    return lifecycle.execution_attempt_failed(execution=started, error_message="boom", retry=False)


# -- what goes and what stays -------------------------------------------------------------------


def test_it_deletes_finished_executions_past_retention_and_only_those(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    old_finished = [
        _row(trigger, status, days=31) for status in ("completed", "failed", "cancelled")
    ]
    old_unfinished = [_row(trigger, status, days=400) for status in ("pending", "running")]
    recent = _row(trigger, "completed", days=29)
    # Created long ago, finished lately (a long run, a late retry): its finish counts.
    finished_lately = _row(trigger, "failed", days=45, finished_days=2)

    report = executions_prune()

    assert report.deleted == 3 and report.done
    assert _alive(*old_finished) == set()
    assert _alive(*old_unfinished, recent, finished_lately) == {
        e.pk for e in (*old_unfinished, recent, finished_lately)
    }


def test_the_triggers_counters_and_last_run_are_unchanged(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    runs = [_run(trigger), _run(trigger, fail=True), _run(trigger), _run(trigger, fail=True)]
    before = _counters(trigger)
    assert before["execution_count"] == 4 and before["error_count"] == 2
    for execution in runs:
        _aged(execution, created_days=60, finished_days=60)

    assert executions_prune().deleted == 4

    assert Execution.objects.filter(trigger=trigger).count() == 0
    assert _counters(trigger) == before


def test_a_tenants_own_retention_replaces_the_default(acme, globex, make_trigger, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    ours, theirs = make_trigger(acme, "webhook"), make_trigger(globex, "webhook")
    Tenant.objects.filter(pk=acme.pk).update(execution_retention_days=90)
    kept_by_ours = _row(ours, "completed", days=60)
    past_ours = _row(ours, "completed", days=91)
    past_theirs = _row(theirs, "completed", days=60)

    executions_prune()

    assert _alive(kept_by_ours, past_ours, past_theirs) == {kept_by_ours.pk}


def test_a_shorter_retention_of_a_tenant_and_forever(acme, globex, make_trigger, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    ours, theirs = make_trigger(acme, "webhook"), make_trigger(globex, "webhook")
    Tenant.objects.filter(pk=acme.pk).update(execution_retention_days=7)
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=0)
    past_ours = _row(ours, "completed", days=8)
    recent_ours = _row(ours, "completed", days=6)
    ancient_theirs = _row(theirs, "failed", days=3650)

    executions_prune()

    assert _alive(past_ours, recent_ours, ancient_theirs) == {recent_ours.pk, ancient_theirs.pk}


def test_zero_keeps_history_forever_but_a_tenant_may_still_prune(
    acme, globex, make_trigger, settings
):
    settings.EXECUTION_RETENTION_DAYS = 0
    ours, theirs = make_trigger(acme, "webhook"), make_trigger(globex, "webhook")
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=30)
    ancient_ours = _row(ours, "completed", days=3650)
    past_theirs = _row(theirs, "completed", days=31)

    executions_prune()

    assert _alive(ancient_ours, past_theirs) == {ancient_ours.pk}


def test_batches_are_bounded_and_take_turns_between_tenants(acme, globex, make_trigger):
    ours, theirs = make_trigger(acme, "webhook"), make_trigger(globex, "webhook")
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=10)
    for _ in range(7):
        _row(ours, "completed", days=40)
    for _ in range(4):
        _row(theirs, "completed", days=40)
    pending = _row(ours, "pending", days=41)  # passed over, read once

    with CaptureQueriesContext(connection) as queries:
        report = executions_prune(batch_size=3)

    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE FROM")]
    # acme: 3 + 3 + 1, globex: 3 + 1; each batch one DELETE of at most 3 rows.
    assert report.deleted == 11 and report.batches == 5 and len(deletes) == 5
    assert Execution.objects.count() == 1 and _alive(pending)


def test_a_pass_stops_at_its_time_budget(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    old = [_row(trigger, "completed", days=40) for _ in range(3)]

    report = executions_prune(max_seconds=0)

    assert (report.deleted, report.done) == (0, False)
    assert len(_alive(*old)) == 3


def test_a_replay_of_a_deleted_execution_stays_unlinked(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    original = _run(trigger)
    replay = replays.execution_replay(execution=original)
    _aged(original, created_days=40, finished_days=40)

    executions_prune()

    replay.refresh_from_db()
    assert not Execution.objects.filter(pk=original.pk).exists()
    assert replay.replay_of_id is None


def test_what_the_firing_rules_read_is_kept(acme, make_trigger):
    """A single-execution trigger's one execution is what refuses a second run: deleting
    it would let the trigger fire again once enabled."""
    once = make_trigger(acme, "webhook", is_single_execution=True)
    fired = firing.execution_fire(trigger=once, execution_type="webhook").execution
    lifecycle.execution_run(execution_id=fired.execution_id)
    one_day = (timezone.now() + 10 * DAY).date().isoformat()
    one_time = make_trigger(acme, "cron", cron_expression="0 9 * * *", config={"date": one_day})
    slot = _row(one_time, "completed", days=300)
    _aged(fired, created_days=300, finished_days=300)

    executions_prune()

    assert _alive(fired, slot) == {fired.pk, slot.pk}
    trigger_enable(trigger=once)
    with pytest.raises(firing.FiringRefused, match="already fired"):
        firing.execution_fire(trigger=once, execution_type="webhook")


def test_the_task_runs_on_the_control_queue_from_beat():
    beat = django_settings.CELERY_BEAT_SCHEDULE["prune-executions"]
    assert beat["task"] == prune_executions.name
    assert beat["options"]["queue"] == django_settings.CELERY_CONTROL_QUEUE
    # A pass a busy or absent worker did not start in time is dropped, not queued up.
    assert beat["options"]["expire_seconds"] == beat["schedule"]
    assert django_settings.CELERY_TASK_ROUTES[prune_executions.name] == {
        "queue": django_settings.CELERY_CONTROL_QUEUE
    }


def test_beat_sends_the_pass_to_the_control_queue_to_expire_within_its_interval(
    start_engine, wait_for
):
    start_engine("beat", EXECUTION_PRUNE_INTERVAL_SECONDS="1")
    control = BrokerQueues()

    def prune_messages():
        messages = control.messages(django_settings.CELERY_CONTROL_QUEUE)
        return [m for m in messages if m["headers"]["task"] == prune_executions.name]

    sent = wait_for(prune_messages, timeout=30, message="Beat sent no prune pass")
    # Sent with an expiry one interval after it was sent (so no later than a second from now).
    expires = parse_datetime(sent[0]["headers"]["expires"] or "")
    assert expires is not None and expires <= timezone.now() + timedelta(seconds=1)


def test_real_rows_are_pruned_by_a_real_worker_while_it_runs_executions(
    start_worker, wait_for, acme, globex, make_trigger
):
    """The Beat task on a real worker, in batches of 25, while the same worker runs new
    executions of the same trigger."""
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=90)
    ours, theirs = make_trigger(acme, "webhook"), make_trigger(globex, "webhook")
    past = [_run(ours), _run(ours, fail=True)]
    kept_by_theirs = [_run(theirs), _run(theirs, fail=True)]
    for execution in past + kept_by_theirs:
        _aged(execution, created_days=60, finished_days=60)
    before = {"ours": _counters(ours), "theirs": _counters(theirs)}
    past += [_row(ours, status, days=31) for status in ("completed", "failed", "cancelled") * 40]
    stuck = [_row(ours, "running", days=45), _row(theirs, "running", days=400)]
    # Pending and old, but not a worker's to run: in flight elsewhere, or its retry not due.
    in_flight, backing_off = _row(ours, "pending", days=45), _row(ours, "pending", days=45)
    Execution.objects.filter(pk=in_flight.pk).update(dispatched_at=timezone.now())
    Execution.objects.filter(pk=backing_off.pk).update(available_at=timezone.now() + 30 * DAY)
    recent = _row(ours, "completed", days=29)
    start_worker(EXECUTION_PRUNE_BATCH_SIZE="25")
    new = [firing.execution_create_test(trigger=ours) for _ in range(5)]

    prune_executions.apply_async()

    wait_for(lambda: not _alive(*past), timeout=60, message="the worker did not prune")
    wait_for(
        lambda: set(Execution.objects.filter(pk__in=[e.pk for e in new])
                    .values_list("status", flat=True)) == {"completed"},
        timeout=60, message="the worker did not run the new executions",
    )  # fmt: skip
    kept = [*stuck, in_flight, backing_off, recent, *kept_by_theirs, *new]
    assert _alive(*kept) == {e.pk for e in kept}
    assert Execution.objects.count() == len(kept)
    ours_now = _counters(ours)
    assert ours_now["execution_count"] == before["ours"]["execution_count"] + 5
    assert ours_now["error_count"] == before["ours"]["error_count"] == 1
    assert _counters(theirs) == before["theirs"]


# -- how far history goes: the lists ------------------------------------------------------------


MANAGE = "/manage/tenants/acme/projects/support/agents/triage/triggers"


@pytest.fixture
def lists(alice_client, acme, make_trigger):
    """Every list of executions of acme's, on each surface that lists them."""
    project = project_create(tenant=acme, name="Support", public_id="support")
    agent_create(tenant=acme, project=project, name="Triage", public_id="triage")
    made = alice_client.post(MANAGE, {"id": "orders", "name": "Orders"}, format="json")
    assert made.status_code == 201, made.content
    trigger = make_trigger(acme, "webhook")
    return [
        "/api/executions",
        f"/api/triggers/{trigger.pk}/executions",
        f"{MANAGE}/orders/invocations",
    ]


def test_every_list_of_executions_says_how_far_history_goes(alice_client, lists, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    for url in lists:
        before = timezone.now().replace(microsecond=0)
        response = alice_client.get(url)
        after = timezone.now()

        assert response.status_code == 200, (url, response.content)
        assert response["X-History-Retention-Days"] == "30", url
        since = parse_datetime(response["X-History-Since"])
        assert response["X-History-Since"].endswith("Z")
        assert before - 30 * DAY <= since <= after - 30 * DAY, url


def test_a_tenant_kept_forever_says_so(alice_client, acme, lists):
    Tenant.objects.filter(pk=acme.pk).update(execution_retention_days=0)
    for url in lists:
        response = alice_client.get(url)

        assert response["X-History-Retention-Days"] == "0", url
        assert not response.has_header("X-History-Since"), url


def test_the_headers_are_the_callers_tenants(alice_client, charlie_client, acme, globex, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=400)

    assert alice_client.get("/api/executions")["X-History-Retention-Days"] == "30"
    assert charlie_client.get("/api/executions")["X-History-Retention-Days"] == "400"


# -- how far history goes: the admin ------------------------------------------------------------


def _history_line(client) -> str:
    page = client.get(reverse("admin:executions_execution_changelist")).content.decode()
    start = page.index('id="history-kept"')
    return " ".join(page[start : page.index("</div>", start)].split())


def test_the_executions_list_says_how_far_history_goes(root, acme, globex, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    assert "History kept for 30 days: executions finished before" in _history_line(root)

    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=0)
    line = _history_line(root)
    assert "globex: history kept forever" in line
    assert "Every other tenant: history kept for 30 days" in line


def test_staff_see_their_own_tenants_retention(dave, acme, globex, settings):
    settings.EXECUTION_RETENTION_DAYS = 30
    Tenant.objects.filter(pk=acme.pk).update(execution_retention_days=90)
    Tenant.objects.filter(pk=globex.pk).update(execution_retention_days=0)

    line = _history_line(dave)

    assert "History kept for 90 days" in line
    assert "globex" not in line and "forever" not in line


def test_an_operator_sets_a_tenants_retention_in_the_admin(root, acme):
    url = reverse("admin:accounts_tenant_change", args=[acme.pk])

    response = root.post(
        url, {"name": "Acme", "execution_retention_days": "90", **_no_memberships()}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    acme.refresh_from_db()
    assert (acme.name, acme.execution_retention_days) == ("Acme", 90)
    assert "90 days" in root.get(reverse("admin:accounts_tenant_changelist")).content.decode()


def test_an_operator_may_not_set_a_retention_past_a_hundred_years(root, acme):
    url = reverse("admin:accounts_tenant_change", args=[acme.pk])

    response = root.post(url, {"name": "acme", "execution_retention_days": "40000",
                               **_no_memberships()})  # fmt: skip

    assert response.status_code == 200  # the form again, with the error
    assert "execution_retention_days" in response.context["adminform"].form.errors
    acme.refresh_from_db()
    assert acme.execution_retention_days is None


def test_a_tenants_staff_see_the_retention_but_may_not_change_it(dave, acme):
    url = reverse("admin:accounts_tenant_change", args=[acme.pk])

    response = dave.post(url, {"name": "Acme", "execution_retention_days": "0",
                               **_no_memberships()})  # fmt: skip

    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.execution_retention_days) == ("Acme", None)


def _no_memberships() -> dict:
    """The management form of the tenant page's memberships inline, unchanged (none sent)."""
    prefix = "memberships"
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}  # fmt: skip
