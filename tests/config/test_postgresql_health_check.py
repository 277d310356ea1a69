"""The database backend's health check (config/postgresql/base.py): no round trip for a
healthy idle connection, and a connection the server ended is found dead and replaced."""

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wrapper():
    """A connection of its own to the test database, which the test may break."""
    own = connections.create_connection("default")
    own.health_check_enabled = True
    yield own
    own.close()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def last_query_of(pid: int) -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_a_healthy_idle_connection_is_usable_without_a_query(wrapper):
    pid = backend_pid(wrapper)

    assert wrapper.is_usable()

    # Django's own check would have run "SELECT 1" on it.
    assert last_query_of(pid) == "SELECT pg_backend_pid()"


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(wrapper, wait_for):
    pid = backend_pid(wrapper)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(lambda: not wrapper.is_usable(), timeout=5, message="the ended session is seen")

    wrapper.health_check_done = False  # as at the start of a request
    replaced = backend_pid(wrapper)  # the first cursor runs the health check

    assert replaced != pid


def test_a_connection_inside_a_transaction_is_checked_with_a_query(wrapper):
    pid = backend_pid(wrapper)
    wrapper.connection.execute("BEGIN")

    assert wrapper.is_usable()

    assert last_query_of(pid) == "SELECT 1"
    wrapper.connection.execute("ROLLBACK")
