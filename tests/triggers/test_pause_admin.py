"""The admin's pause: "Pause…" asks for a note and an until-time (from the list or the
trigger's page), "Resume" enables paused triggers, and the list and the page say who paused
a trigger, why and until when; staff pause only their tenants' triggers."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from triggers import services
from triggers.choices import TriggerStatus
from triggers.models import Trigger

CHANGELIST = "admin:triggers_trigger_changelist"


def _until(**delta) -> str:
    """A form's datetime-local value, in the admin's time zone (UTC)."""
    return (timezone.now() + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def test_pause_from_the_list_asks_for_a_note_then_pauses(dave, acme, make_trigger):
    first, second = make_trigger(acme, name="one"), make_trigger(acme, name="two")
    chosen = {"action": "pause", "_selected_action": [first.pk, second.pk]}

    form = dave.post(reverse(CHANGELIST), chosen)
    sent = dave.post(
        reverse(CHANGELIST),
        {**chosen, "apply": "yes", "pause_note": "Quarter close", "paused_until": _until(days=2)},
    )

    assert form.status_code == 200
    assert 'id="pause-form"' in form.content.decode() and "Pause <strong>2</strong>" in (
        form.content.decode()
    )
    assert sent.status_code == 302
    for trigger in Trigger.objects.filter(pk__in=[first.pk, second.pk]):
        assert trigger.status == TriggerStatus.INACTIVE
        assert (trigger.pause_note, trigger.paused_by) == ("Quarter close", dave.user)
        assert trigger.paused_until > timezone.now() + timedelta(days=1)


def test_an_until_time_in_the_past_shows_the_form_again_and_pauses_nothing(
    dave, acme, make_trigger
):
    trigger = make_trigger(acme)

    page = dave.post(
        reverse(CHANGELIST),
        {"action": "pause", "_selected_action": [trigger.pk], "apply": "yes",
         "pause_note": "x", "paused_until": "2020-01-01T00:00"},
    )  # fmt: skip

    assert page.status_code == 200
    assert "Must be in the future." in page.content.decode()
    assert Trigger.objects.get(pk=trigger.pk).status == TriggerStatus.ACTIVE


def test_the_pages_pause_button_shows_the_form_and_the_page_shows_the_pause(
    dave, acme, make_trigger
):
    trigger = make_trigger(acme, "cron", cron_expression="0 9 * * *")
    act = reverse("admin:triggers_trigger_act", args=[trigger.pk, "pause"])
    change = reverse("admin:triggers_trigger_change", args=[trigger.pk])

    assert 'id="trigger-pause"' in dave.get(change).content.decode()
    form = dave.post(act)
    sent = dave.post(act, {"apply": "yes", "pause_note": "Vendor down", "paused_until": ""})
    page = dave.get(change).content.decode()

    assert 'id="pause-form"' in form.content.decode()
    assert sent.status_code == 302 and sent["Location"] == change
    assert 'id="trigger-pause"' in page and 'id="trigger-resume"' in page
    assert "Paused by dave since" in page and "Vendor down" in page
    assert "Inactive: paused by dave" in page  # the timeline's "why it does not fire"
    stored = Trigger.objects.get(pk=trigger.pk)
    assert (stored.status, stored.pause_note, stored.paused_until) == (
        TriggerStatus.INACTIVE, "Vendor down", None,
    )  # fmt: skip


def test_the_list_says_who_paused_a_trigger_why_and_until_when(dave, acme, alice, make_trigger):
    trigger = make_trigger(acme, name="Digest")
    until = timezone.now() + timedelta(hours=5)
    services.trigger_disable(
        trigger=trigger, updated_by=alice, pause_note="Waiting on legal", paused_until=until
    )

    page = dave.get(reverse(CHANGELIST)).content.decode()

    assert f"paused by alice since {trigger.created_at:%Y-%m-%d}" in page
    assert f"until {until:%Y-%m-%d %H:%M}: Waiting on legal" in page


def test_resume_enables_the_paused_ones_and_leaves_the_others(dave, acme, alice, make_trigger):
    paused, failed = make_trigger(acme), make_trigger(acme)
    services.trigger_disable(trigger=paused, updated_by=alice, pause_note="x")
    services.trigger_freeze(trigger_id=failed.pk, reason="boom", at=timezone.now())

    dave.post(reverse(CHANGELIST), {"action": "resume", "_selected_action": [paused.pk, failed.pk]})

    stored = Trigger.objects.get(pk=paused.pk)
    assert (stored.status, stored.pause_note, stored.paused_at) == (TriggerStatus.ACTIVE, "", None)
    assert Trigger.objects.get(pk=failed.pk).status == TriggerStatus.FAILED


def test_staff_cannot_pause_another_tenants_trigger(dave, globex, make_trigger):
    theirs = make_trigger(globex)

    dave.post(
        reverse(CHANGELIST),
        {"action": "pause", "_selected_action": [theirs.pk], "apply": "yes", "pause_note": "x"},
    )
    dave.post(reverse("admin:triggers_trigger_act", args=[theirs.pk, "pause"]), {"apply": "yes"})

    assert Trigger.objects.get(pk=theirs.pk).status == TriggerStatus.ACTIVE
