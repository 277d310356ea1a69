"""Django's PostgreSQL backend with a health check that needs no round trip when it can.

Connections persist between requests (``CONN_MAX_AGE``), so one can be dead by the time a
request uses it: PostgreSQL restarted, or a pooler or ``idle_session_timeout`` closed it.
Django's health check (``CONN_HEALTH_CHECKS``) finds out with a ``SELECT 1`` at the start of
every request — a round trip, and a tenth of what a webhook delivery costs the machine
(docs/benchmarks.md).

A server that ends a session sends its reason and closes the socket, so a dead idle
connection has something to read; a healthy idle one has nothing, because libpq consumed
every reply of the previous request. ``is_usable`` therefore polls the socket without
waiting: nothing there, libpq's status OK and no transaction open means usable, at the cost
of one system call. Anything else (a message, end of file, an error) gets Django's
``SELECT 1``, which also consumes a harmless message such as a parameter change.

What neither check sees is a peer that vanished without closing (a cable pulled): that
connection fails at its first query, in this request as in the next.
"""

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status == pq.TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([pgconn.socket], [], [], 0)
            except (OSError, ValueError, psycopg.OperationalError):  # no socket any more
                return False
            if not readable:
                return True
        return super().is_usable()
