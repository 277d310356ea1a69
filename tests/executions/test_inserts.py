"""insert_executions: many rows in one statement, with the model's defaults and constraints;
PreparedInsert: one trigger's rows with their constant columns prepared once."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from executions.inserts import insert_execution, insert_executions, prepared_insert
from executions.models import Execution

# The columns that differ between two rows made from the same values.
_PER_ROW = {"id", "execution_id", "available_at", "created_at", "updated_at"}


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


@pytest.mark.parametrize(
    "logged", [False, True], ids=["driver cursor on PostgreSQL", "Django's cursor"]
)
def test_a_prepared_insert_stores_the_row_insert_execution_stores(acme, make_trigger, logged):
    """Every column alike but the per-row ones, whichever cursor runs it (Django's when
    queries are logged, as under DEBUG or a test that counts them)."""
    trigger = make_trigger(acme, "webhook")
    constant = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook",
                "max_retries": 5}  # fmt: skip
    given = {"input_data": {"n": 1}, "request_payload": {"headers": {}},
             "idempotency_key": "k-1", "concurrency_key": None}  # fmt: skip
    prepared = prepared_insert(constant, list(given))

    if logged:
        with CaptureQueriesContext(connection) as captured:
            execution_id = prepared.insert(list(given.values()))
        assert len(captured) == 1
    else:
        execution_id = prepared.insert(list(given.values()))
    by_orm = insert_execution({**constant, **given, "idempotency_key": "k-2"})

    stored = Execution.objects.get(execution_id=execution_id)
    fields = [f.name for f in Execution._meta.concrete_fields if f.attname not in _PER_ROW]
    assert model_to_dict(stored, fields) == {
        **model_to_dict(by_orm, fields), "idempotency_key": "k-1"
    }  # fmt: skip
    assert stored.created_at == stored.updated_at == stored.available_at  # one moment
    assert stored.execution_id != by_orm.execution_id


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_in_autocommit_a_prepared_insert_runs_one_statement_prepared_on_the_session(
    acme, make_trigger
):
    """The webhook hot path's way (autocommit): straight through libpq, with the statement
    prepared once on the session (config/postgresql/base.py ``execute_direct``), the same
    row, and a repeated key Django's IntegrityError."""
    trigger = make_trigger(acme, "webhook")
    constant = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook"}
    prepared = prepared_insert(constant, ["input_data", "idempotency_key"])

    first = prepared.insert([{"n": 1}, "a"])
    second = prepared.insert([{"n": 2}, "b"])
    with pytest.raises(IntegrityError):
        prepared.insert([{"n": 3}, "a"])

    stored = Execution.objects.order_by("id").values_list("execution_id", "input_data")
    assert list(stored) == [(first, {"n": 1}), (second, {"n": 2})]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'direct%%' "
            "AND statement LIKE 'INSERT INTO \"executions_execution\"%%'"
        )
        assert cursor.fetchone()[0] == 1


def test_a_prepared_insert_with_a_condition_stores_only_when_it_holds(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    constant = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook"}
    prepared = prepared_insert(constant, ["input_data"], condition="%s = 1")

    refused = prepared.insert([{"n": 0}], [0])
    stored = prepared.insert([{"n": 1}], [1])

    assert refused is None
    assert list(Execution.objects.values_list("execution_id", "input_data")) == [(stored, {"n": 1})]


def test_a_prepared_insert_raises_on_a_unique_conflict(acme, make_trigger):
    trigger = make_trigger(acme, "webhook")
    constant = {"tenant_id": acme.pk, "trigger_id": trigger.pk, "execution_type": "webhook"}
    prepared = prepared_insert(constant, ["idempotency_key"])
    prepared.insert(["once"])

    with pytest.raises(IntegrityError), transaction.atomic():  # the savepoint firing takes
        prepared.insert(["once"])

    assert Execution.objects.filter(idempotency_key="once").count() == 1


def test_a_prepared_insert_refuses_a_name_the_model_does_not_have_and_a_given_id():
    with pytest.raises(TypeError, match="payload"):
        prepared_insert({}, ["payload"])
    with pytest.raises(TypeError, match="generated per row"):
        prepared_insert({"execution_id": uuid.uuid4()}, [])
