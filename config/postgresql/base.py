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

``execute_direct`` runs one statement through libpq without a cursor, for the webhook hot
path's INSERT (executions/inserts.py): psycopg's cursor machinery around a prepared
statement (its prepare bookkeeping, query conversion, result objects) cost about a tenth of
a delivery's instructions in the web process (docs/benchmarks.md).
"""

import hashlib
import select
from collections.abc import Sequence
from functools import lru_cache

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq.abc import PGconn, PGresult

# SQLSTATEs of a named statement that is not on the session (a DISCARD ALL, a pooler) and
# of one that is already there (a pooled session another wrapper prepared it on).
_NO_SUCH_STATEMENT = b"26000"
_STATEMENT_EXISTS = b"42P05"


class DatabaseWrapper(base.DatabaseWrapper):
    # execute_direct's: the psycopg connection its adapters and prepared names are of.
    _direct_session = None

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

    def execute_direct(self, sql: str, params: Sequence) -> int:
        """Run ``sql`` (Django's ``%s`` placeholders) with ``params`` on this connection's
        libpq session, without a cursor; the number of rows it touched.

        What psycopg's cursor would do, minus its bookkeeping: the values are dumped by the
        connection's own adapters (the same bytes and type OIDs as a cursor sends), the
        statement is prepared once per session under a name derived from its text (unless
        DATABASE_PREPARED_STATEMENTS is off, psycopg's ``prepare_threshold`` None: then
        it is sent unnamed each time, as a pooler without prepared statements needs), and
        an error is raised as psycopg's exception, translated by Django
        (``wrap_database_errors``), so an IntegrityError is Django's IntegrityError.

        Like a psycopg cursor, not Django's: no query log, no ``execute_wrappers``, so
        callers use it only where those are off (executions/inserts.py checks
        ``queries_logged``). Django's health check runs first, as its cursor would run it.
        In a transaction (autocommit off) the statement goes through psycopg's cursor: it
        sends the BEGIN, and keeps its own prepared statements right across a rollback. A
        statement PostgreSQL prepared inside a transaction is gone when that rolls back, and
        after an error nothing more can be sent in it, so the re-prepare below would fail.
        The webhook hot path runs in autocommit. While libpq waits for the answer, Python's
        signal handlers wait too (psycopg's own wait wakes every 0.1 s for them).
        """
        self.close_if_health_check_failed()
        self.ensure_connection()
        session = self.connection
        pgconn = session.pgconn
        if not session.autocommit:
            with self.wrap_database_errors, session.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount
        with self.wrap_database_errors:
            if self._direct_session is not session:
                self._direct_session = session
                self._direct_transformer = Transformer(session)
                self._direct_prepared = set()
            transformer = self._direct_transformer
            values = transformer.dump_sequence(params, _text_formats(len(params)))
            query = _numbered(sql, len(params))
            if session.prepare_threshold is None:
                result = pgconn.exec_params(query, values, transformer.types)
            else:
                result = self._exec_prepared(pgconn, query, values, transformer.types)
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                raise psycopg.errors.error_from_result(result, session.info.encoding)
            return result.command_tuples or 0

    def _exec_prepared(self, pgconn: PGconn, query: bytes, values, types) -> PGresult:
        name = _statement_name(query)
        for _attempt in range(2):
            if name not in self._direct_prepared:
                prepared = pgconn.prepare(name, query, types)
                if prepared.status != pq.ExecStatus.COMMAND_OK and (
                    prepared.error_field(pq.DiagnosticField.SQLSTATE) != _STATEMENT_EXISTS
                ):
                    return prepared
                self._direct_prepared.add(name)
            result = pgconn.exec_prepared(name, values)
            if result.error_field(pq.DiagnosticField.SQLSTATE) != _NO_SUCH_STATEMENT:
                return result
            self._direct_prepared.discard(name)  # deallocated under us: prepare it again
        return result


@lru_cache(maxsize=64)
def _numbered(sql: str, count: int) -> bytes:
    """The statement with PostgreSQL's ``$1 … $n`` for Django's ``%s`` (``%%`` is ``%``)."""
    return (sql % tuple(f"${number}" for number in range(1, count + 1))).encode()


@lru_cache(maxsize=64)
def _statement_name(query: bytes) -> bytes:
    """One name per statement text: the same on every session, so a pooled session that
    has it prepared already is told by PostgreSQL's "already exists"."""
    return b"direct_" + hashlib.blake2b(query, digest_size=12).hexdigest().encode()


@lru_cache(maxsize=8)
def _text_formats(count: int) -> list[PyFormat]:
    return [PyFormat.TEXT] * count
