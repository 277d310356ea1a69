"""``execute_direct`` (config/postgresql/base.py): one statement through libpq without a
cursor — prepared once per session, re-prepared when the session lost it, sent unnamed when
prepared statements are off, and with psycopg's errors translated as Django's cursor does."""

import pytest
from django.db import IntegrityError, connections
from psycopg.types.json import Jsonb

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]

INSERT = "INSERT INTO direct_probe (id, note, data) VALUES (%s, %s, %s)"


@pytest.fixture
def wrapper():
    """A connection of its own with a temporary table, which lives as long as its session."""
    own = connections.create_connection("default")
    with own.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE direct_probe (id int PRIMARY KEY, note text, data jsonb)")
    yield own
    own.close()


def rows(wrapper) -> list[tuple]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT id, note, data FROM direct_probe ORDER BY id")
        return cursor.fetchall()


def direct_statements(wrapper) -> list[str]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'direct%%'")
        return [statement for (statement,) in cursor.fetchall()]


def test_a_statement_is_prepared_once_per_session_and_stores_what_a_cursor_would(wrapper):
    assert wrapper.execute_direct(INSERT, [1, "one", Jsonb({"a": [1, "x"]})]) == 1
    assert wrapper.execute_direct(INSERT, [2, None, None]) == 1

    # jsonb comes back as text: Django's backend registers no loader for it.
    assert rows(wrapper) == [(1, "one", '{"a": [1, "x"]}'), (2, None, None)]
    assert direct_statements(wrapper) == [
        "INSERT INTO direct_probe (id, note, data) VALUES ($1, $2, $3)"
    ]


def test_the_row_count_is_what_the_statement_touched(wrapper):
    conditional = "INSERT INTO direct_probe (id) SELECT CAST(%s AS int) WHERE %s"

    assert wrapper.execute_direct(conditional, [1, False]) == 0
    assert wrapper.execute_direct(conditional, [1, True]) == 1


def test_a_unique_conflict_is_djangos_integrity_error_and_the_session_goes_on(wrapper):
    wrapper.execute_direct(INSERT, [1, "first", Jsonb({})])

    with pytest.raises(IntegrityError, match="direct_probe_pkey"):
        wrapper.execute_direct(INSERT, [1, "again", Jsonb({})])

    assert wrapper.execute_direct(INSERT, [2, "next", Jsonb({})]) == 1
    assert [note for _, note, _ in rows(wrapper)] == ["first", "next"]


def test_a_statement_the_session_lost_is_prepared_again(wrapper):
    wrapper.execute_direct(INSERT, [1, "before", Jsonb({})])
    with wrapper.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's reset, or DISCARD ALL, would

    assert wrapper.execute_direct(INSERT, [2, "after", Jsonb({})]) == 1

    assert [note for _, note, _ in rows(wrapper)] == ["before", "after"]
    assert len(direct_statements(wrapper)) == 1


def test_a_session_that_another_wrapper_prepared_it_on_is_used_as_it_is(wrapper):
    """A pooled session passes from one wrapper to another with its statements."""
    wrapper.execute_direct(INSERT, [1, "first wrapper", Jsonb({})])
    other = connections.create_connection("default")
    other.connection = wrapper.connection  # the same session, as the pool hands it on
    try:
        assert other.execute_direct(INSERT, [2, "second wrapper", Jsonb({})]) == 1
    finally:
        other.connection = None  # the session is the first wrapper's to close

    assert [note for _, note, _ in rows(wrapper)] == ["first wrapper", "second wrapper"]
    assert len(direct_statements(wrapper)) == 1


def test_without_prepared_statements_nothing_is_prepared(wrapper):
    """DATABASE_PREPARED_STATEMENTS off (a pooler that cannot keep them): psycopg's
    prepare_threshold is None, and the statement is sent unnamed each time."""
    wrapper.connection.prepare_threshold = None

    assert wrapper.execute_direct(INSERT, [1, "unnamed", Jsonb({})]) == 1
    assert wrapper.execute_direct(INSERT, [2, "unnamed too", Jsonb({})]) == 1

    assert direct_statements(wrapper) == []
    assert len(rows(wrapper)) == 2


def test_in_a_transaction_the_statement_is_part_of_it(wrapper):
    """With autocommit off psycopg's cursor runs it: psycopg sends BEGIN before the
    transaction's first statement, and keeps its prepared statements right across a rollback
    (PostgreSQL drops one prepared inside a transaction that rolls back)."""
    wrapper.set_autocommit(False)
    wrapper.execute_direct(INSERT, [1, "first in the transaction", Jsonb({})])
    wrapper.execute_direct(INSERT, [2, "second", Jsonb({})])
    assert len(rows(wrapper)) == 2

    wrapper.rollback()
    wrapper.set_autocommit(True)

    assert rows(wrapper) == []
    assert wrapper.execute_direct(INSERT, [3, "after the rollback", Jsonb({})]) == 1
    assert direct_statements(wrapper) == [
        "INSERT INTO direct_probe (id, note, data) VALUES ($1, $2, $3)"
    ]
