"""insert_executions: many rows in one statement, with the model's defaults and constraints."""

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions.inserts import insert_executions
from executions.models import Execution


def test_rows_get_the_model_defaults_and_one_statement(acme, make_trigger):
    trigger = make_trigger(acme, "cron")
    rows = [
        {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "scheduled",
         "input_data": {"n": n}}
        for n in range(3)
    ]  # fmt: skip
    rows[1]["error_message"] = "only this one"

    with CaptureQueriesContext(connection) as captured:
        insert_executions(rows)

    assert len(captured) == 1
    stored = list(Execution.objects.order_by("pk"))
    assert [e.input_data for e in stored] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [e.error_message for e in stored] == ["", "only this one", ""]
    assert len({e.execution_id for e in stored}) == 3  # a default computed per row
    assert all(e.status == "pending" and e.max_retries == 3 and e.is_test is False
               and e.request_payload is None and e.created_at and e.updated_at
               and e.available_at for e in stored)  # fmt: skip


def test_a_conflicting_row_is_skipped_when_asked(acme, make_trigger):
    trigger = make_trigger(acme, "cron")
    slot = trigger.next_fire_at
    row = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "scheduled",
           "scheduled_for": slot}  # fmt: skip
    insert_executions([{**row, "execution_id": uuid.uuid4()}])

    insert_executions(
        [{**row, "execution_id": uuid.uuid4()}, {**row, "scheduled_for": None}],
        ignore_conflicts=True,
    )

    assert Execution.objects.filter(scheduled_for=slot).count() == 1
    assert Execution.objects.count() == 2
