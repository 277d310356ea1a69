"""A pause with a note, until a time: the rules every surface gets from triggers.services."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from triggers import services
from triggers.choices import TriggerStatus
from triggers.models import PAUSE_NOTE_MAX_LENGTH, Trigger


def _stored(trigger: Trigger) -> Trigger:
    return Trigger.objects.get(pk=trigger.pk)


def test_it_records_who_paused_a_trigger_why_and_until_when(acme, alice, make_trigger):
    trigger = make_trigger(acme)
    until = timezone.now() + timedelta(hours=2)
    before = timezone.now()

    services.trigger_disable(
        trigger=trigger,
        updated_by=alice,
        pause_note="Vendor outage, see INC-42",
        paused_until=until,
    )

    stored = _stored(trigger)
    assert stored.status == TriggerStatus.INACTIVE
    assert stored.paused_by == alice
    assert before <= stored.paused_at <= timezone.now()
    assert stored.pause_note == "Vendor outage, see INC-42"
    assert stored.paused_until == until
    assert stored.next_fire_at is None


def test_a_plain_disable_is_a_pause_without_note_or_end(acme, alice, make_trigger):
    trigger = make_trigger(acme)

    services.trigger_disable(trigger=trigger, updated_by=alice)

    stored = _stored(trigger)
    assert (stored.paused_by, stored.pause_note, stored.paused_until) == (alice, "", None)
    assert stored.paused_at is not None


def test_enabling_ends_the_pause_and_clears_it(acme, alice, make_trigger):
    trigger = make_trigger(acme)
    services.trigger_disable(
        trigger=trigger,
        updated_by=alice,
        pause_note="why",
        paused_until=timezone.now() + timedelta(days=1),
    )

    services.trigger_enable(trigger=trigger, updated_by=alice)

    stored = _stored(trigger)
    assert stored.status == TriggerStatus.ACTIVE
    assert (stored.paused_at, stored.paused_by, stored.pause_note, stored.paused_until) == (
        None, None, "", None,
    )  # fmt: skip
    assert stored.next_fire_at is not None


def test_changing_a_pause_keeps_who_paused_it_and_since_when(
    acme, alice, bob_membership, make_trigger
):
    trigger = make_trigger(acme)
    services.trigger_disable(trigger=trigger, updated_by=alice, pause_note="first")
    first = _stored(trigger)
    later = timezone.now() + timedelta(hours=3)

    services.trigger_update(
        trigger=trigger, updated_by=bob_membership.user, pause_note="second", paused_until=later
    )

    stored = _stored(trigger)
    assert (stored.pause_note, stored.paused_until) == ("second", later)
    assert (stored.paused_by, stored.paused_at) == (alice, first.paused_at)
    assert stored.updated_by == bob_membership.user


def test_an_until_time_not_in_the_future_is_refused_and_nothing_changes(acme, alice, make_trigger):
    trigger = make_trigger(acme)

    with pytest.raises(ValidationError) as caught:
        services.trigger_disable(
            trigger=trigger,
            updated_by=alice,
            pause_note="x",
            paused_until=timezone.now() - timedelta(1),
        )

    assert caught.value.message_dict == {"paused_until": ["Must be in the future."]}
    stored = _stored(trigger)
    assert stored.status == TriggerStatus.ACTIVE and stored.paused_at is None


def test_a_note_too_long_is_refused(acme, alice, make_trigger):
    trigger = make_trigger(acme)

    with pytest.raises(ValidationError) as caught:
        services.trigger_disable(
            trigger=trigger, updated_by=alice, pause_note="x" * (PAUSE_NOTE_MAX_LENGTH + 1)
        )

    assert list(caught.value.message_dict) == ["pause_note"]
    assert _stored(trigger).status == TriggerStatus.ACTIVE


def test_an_enable_takes_no_note_or_until(acme, alice, make_trigger):
    trigger = make_trigger(acme)
    services.trigger_disable(trigger=trigger, updated_by=alice)

    with pytest.raises(ValidationError) as caught:
        services.trigger_update(
            trigger=trigger,
            status=TriggerStatus.ACTIVE,
            paused_until=timezone.now() + timedelta(hours=1),
        )

    assert list(caught.value.message_dict) == ["paused_until"]
    assert "Enabling ends the pause" in caught.value.message_dict["paused_until"][0]
    assert _stored(trigger).status == TriggerStatus.INACTIVE


def test_a_trigger_that_is_not_paused_takes_no_note(acme, alice, make_trigger):
    trigger = make_trigger(acme)

    with pytest.raises(ValidationError) as caught:
        services.trigger_update(trigger=trigger, updated_by=alice, pause_note="why")

    assert "Only a paused (inactive) trigger" in caught.value.message_dict["pause_note"][0]
    assert _stored(trigger).pause_note == ""


def test_a_trigger_made_paused_has_its_note_and_its_maker(acme, alice, make_trigger):
    until = timezone.now() + timedelta(days=2)
    trigger = make_trigger(
        acme, status=TriggerStatus.INACTIVE, pause_note="Not yet", paused_until=until
    )

    stored = _stored(trigger)
    assert (stored.pause_note, stored.paused_until, stored.paused_by) == ("Not yet", until, alice)
    assert stored.paused_at is not None


def test_a_trigger_made_active_takes_no_pause(acme, make_trigger):
    with pytest.raises(ValidationError) as caught:
        make_trigger(acme, pause_note="why")

    assert "pause_note" in caught.value.message_dict
    assert not Trigger.objects.exists()


def test_a_paused_trigger_that_goes_stale_is_no_longer_paused(acme, alice, make_trigger):
    trigger = make_trigger(acme)
    services.trigger_disable(
        trigger=trigger,
        updated_by=alice,
        pause_note="x",
        paused_until=timezone.now() + timedelta(hours=1),
    )

    services.triggers_mark_stale(triggers=Trigger.objects.filter(pk=trigger.pk), reason="gone")

    stored = _stored(trigger)
    assert stored.status == TriggerStatus.STALE
    assert (stored.paused_at, stored.pause_note, stored.paused_until) == (None, "", None)


def test_resume_ends_a_pause_once_and_only_when_its_time_has_come(acme, alice, make_trigger):
    trigger = make_trigger(acme, "webhook")
    until = timezone.now() + timedelta(minutes=5)
    services.trigger_disable(trigger=trigger, updated_by=alice, pause_note="x", paused_until=until)

    early = services.trigger_resume(trigger_id=trigger.pk, now=until - timedelta(seconds=1))
    resumed = services.trigger_resume(trigger_id=trigger.pk, now=until)
    again = services.trigger_resume(trigger_id=trigger.pk, now=until)

    assert early is None and again is None
    assert resumed.status == TriggerStatus.ACTIVE
    stored = _stored(trigger)
    assert stored.status == TriggerStatus.ACTIVE
    assert (stored.paused_at, stored.paused_by, stored.paused_until) == (None, None, None)


def test_resume_arms_a_schedule_at_its_first_slot_after_the_pause_began(acme, alice, make_trigger):
    trigger = make_trigger(acme, cron_expression="0 * * * *")
    services.trigger_disable(
        trigger=trigger, updated_by=alice, paused_until=timezone.now() + timedelta(minutes=1)
    )
    paused_at = timezone.now() - timedelta(hours=3, minutes=30)
    Trigger.objects.filter(pk=trigger.pk).update(paused_at=paused_at)

    resumed = services.trigger_resume(trigger_id=trigger.pk, now=timezone.now() + timedelta(1))

    first_slot = (paused_at + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    assert resumed.next_fire_at == first_slot
