"""Counting completed executions on their triggers (triggers.services.triggers_count_completed):
two workers storing batches at once never deadlock on the triggers they share."""

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from triggers import services
from triggers.models import Trigger

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:  # pg_locks is read afresh, unlike pg_stat_activity
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


def _free(trigger_id: int) -> bool:
    """Could this connection lock the trigger's row now (no one else holds it)?"""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM triggers_trigger WHERE id = %s FOR NO KEY UPDATE NOWAIT",
                [trigger_id],
            )
    except OperationalError:  # lock not available
        return False
    return True


def test_a_count_locks_its_triggers_in_id_order(acme, make_trigger):
    # Each one waiting for a trigger holds none after it: two counts cannot hold what the
    # other waits for. The soak's worker met that deadlock 11 times in 2 minutes (each a
    # second lost: PostgreSQL's deadlock_timeout) before the triggers were locked in order.
    triggers = sorted((make_trigger(acme, "webhook") for _ in range(10)), key=lambda t: t.pk)
    now = timezone.now()

    def count():
        try:
            with connection.cursor() as cursor:  # the plan of a large table: the triggers
                # looked up one by one, in the order a hash table yields them
                cursor.execute(
                    "SET enable_sort = off; SET enable_seqscan = off; "
                    "SET enable_hashjoin = off; SET enable_mergejoin = off"
                )
            services.triggers_count_completed(
                completed=[(trigger.pk, now) for trigger in reversed(triggers)]
            )
        finally:
            connection.close()

    counting = threading.Thread(target=count)
    with transaction.atomic():
        Trigger.objects.select_for_update(no_key=True).get(pk=triggers[0].pk)
        counting.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_on_a_lock()
        held_by_the_count = [trigger.pk for trigger in triggers[1:] if not _free(trigger.pk)]
    counting.join(timeout=10)

    assert held_by_the_count == []
    assert not counting.is_alive()
    counts = Trigger.objects.filter(pk__in=[t.pk for t in triggers]).values_list(
        "execution_count", flat=True
    )
    assert list(counts) == [1] * len(triggers)
