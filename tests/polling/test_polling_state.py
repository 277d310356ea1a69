"""A polling trigger's PollingState follows every write of its Trigger (polling/receivers.py):
made with it, out of the poll queue when it leaves active, its own for a copy, gone when
the trigger is no longer a polling one."""

from polling.models import PollingState
from tests.polling.conftest import polling_state
from triggers.choices import TriggerStatus
from triggers.models import Trigger
from triggers.services import (
    trigger_duplicate,
    trigger_update,
    triggers_mark_stale,
)


def test_it_gives_no_state_to_a_trigger_of_another_kind(acme, make_trigger):
    cron = make_trigger(acme)

    assert not PollingState.objects.filter(trigger=cron).exists()


def test_it_takes_a_stale_trigger_out_of_the_poll_queue(feed_server, make_polling):
    trigger, _ = make_polling(feed_server("rss"))
    assert polling_state(trigger).next_poll_at is not None

    triggers_mark_stale(triggers=Trigger.objects.filter(pk=trigger.pk), reason="Gone.")

    assert polling_state(trigger).next_poll_at is None


def test_a_copy_has_a_state_of_its_own_and_waits_to_be_enabled(feed_server, make_polling):
    trigger, _ = make_polling(feed_server("rss"), polling_frequency=120000)
    PollingState.objects.filter(trigger=trigger).update(cursor={"seen_ids": ["a"]}, failures=2)

    copy = trigger_duplicate(trigger=trigger)

    state = polling_state(copy)
    assert (state.interval_seconds, state.next_poll_at) == (120, None)
    assert (state.cursor, state.failures) == (None, 0)
    assert copy.status == TriggerStatus.INACTIVE


def test_a_new_polling_frequency_is_the_new_interval(feed_server, make_polling):
    trigger, _ = make_polling(feed_server("rss"))
    PollingState.objects.filter(trigger=trigger).update(cursor={"seen_ids": ["a"]})

    trigger_update(trigger=trigger, config={**trigger.config, "polling_frequency": 300000})

    state = polling_state(trigger)
    assert state.interval_seconds == 300
    assert state.cursor == {"seen_ids": ["a"]}  # the same source: the cursor stays
