"""Storing one execution row with an INSERT compiled once per process.

``Execution.objects.create`` compiles the same 21-column INSERT for every call, about
0.1 ms of CPU on the webhook hot path. The statement here is built once from the model's
own fields, and each row's values still go through every field's ``pre_save`` and
``get_db_prep_save`` (defaults, ``auto_now``, JSON adaptation), exactly as the ORM does;
a field added to the model is included without touching this module. Like
``QuerySet.create`` minus the signals: Execution has no ``pre_save``/``post_save``
receivers, and this module would have to send them if it got any.

``only_if`` makes the INSERT conditional: ``INSERT … SELECT <values> WHERE <condition>``,
one statement, so a check and the write need one round trip and see the same state
(the webhook path uses it to check its trigger, webhooks/delivery.py). Each value is
cast to its column's type there, because PostgreSQL types a bare parameter in a SELECT as
text, not as the column it goes into.

``PreparedInsert`` is the webhook hot path's: the rows of one trigger's deliveries differ only
in a few columns (payload, keys, the moment, a new execution id), so every other column's
value is prepared once per trigger and each row costs a list copy and a few values, with no
model instance (whose ``pre_init``/``post_init`` signals and per-field preparation were a
third of a delivery's CPU, docs/benchmarks.md). It stores the same row ``insert_execution``
does: the constant values come from the same fields' ``pre_save`` and ``get_db_prep_save``.

``insert_executions`` stores many rows in one statement for the scheduler: on PostgreSQL an
``INSERT … SELECT … FROM unnest(<one array per column that varies>)``, the other columns one
value each (their defaults, computed once), so neither a model instance per row nor Django's
per-value compilation is paid — 100,000 rows of a 09:00 herd cost the scheduler a third of
what ``bulk_create`` does (docs/scheduling.md). SQLite has no arrays: the same values go in
rows of ``INSERT … VALUES``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connections, router
from django.db.models import DateTimeField
from django.utils import timezone

from executions.models import Execution


def insert_execution(
    fields: dict[str, Any], *, only_if: tuple[str, Sequence[Any]] | None = None
) -> Execution | None:
    """Create and store ``Execution(**fields)``; raises IntegrityError as ``create`` does.

    ``only_if``: (an SQL condition, its parameters); the row is stored only if it holds when
    the statement runs, else nothing is stored and None returned.
    """
    execution = _new_execution(fields)
    alias = router.db_for_write(Execution)
    connection = connections[alias]
    condition, condition_params = only_if or (None, ())
    columns, sql, returns_pk = _insert_statement(alias, condition)
    params = [f.get_db_prep_save(f.pre_save(execution, True), connection) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *condition_params])
        if condition is not None and cursor.rowcount == 0:
            return None
        execution.pk = cursor.fetchone()[0] if returns_pk else cursor.lastrowid
    execution._state.adding = False
    execution._state.db = alias
    return execution


@dataclass(frozen=True)
class PreparedInsert:
    """An execution INSERT whose columns but ``varying`` hold values prepared once.

    Built by ``prepared_insert``; ``insert`` stores one row. The moment columns (defaults of
    ``timezone.now``, ``auto_now``, ``auto_now_add``) take one ``now`` per row, and a column
    with another computed default (the execution id's uuid4) a new value per row, as
    ``Execution()`` would give them.
    """

    alias: str
    sql: str
    template: tuple
    varying: tuple[tuple[int, Any], ...]  # (position, field) of each given attname
    generated: tuple[tuple[int, Any], ...]  # (position, field) of each computed default
    moments: tuple[int, ...]
    moment_field: Any

    def insert(
        self, values: Sequence[Any], condition_params: Sequence[Any] = ()
    ) -> uuid.UUID | None:
        """Store the row with ``values`` for the varying attnames, in their order; its
        execution id, or None when the condition did not hold (nothing stored). Raises
        django.db.IntegrityError on a unique conflict, as ``insert_execution`` does."""
        connection = connections[self.alias]
        params = list(self.template)
        for (position, field), value in zip(self.varying, values, strict=True):
            params[position] = field.get_db_prep_save(value, connection)
        execution_id = None
        for position, field in self.generated:
            value = field.get_default()
            if field.attname == "execution_id":
                execution_id = value
            params[position] = field.get_db_prep_save(value, connection)
        if self.moments:
            now = self.moment_field.get_db_prep_save(timezone.now(), connection)
            for position in self.moments:
                params[position] = now
        params += condition_params
        if connection.queries_logged or not hasattr(connection, "execute_direct"):
            # DEBUG or a test counting queries: Django's cursor. So on SQLite too, whose
            # driver takes "?" placeholders that Django's wrapper translates "%s" into.
            with connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                stored = cursor.rowcount
        else:
            # Straight through libpq (config/postgresql/base.py): Django's cursor adds only
            # what is off here (query logging), and psycopg's its bookkeeping around the
            # prepared statement. Both keep Django's health check and error translation.
            stored = connection.execute_direct(self.sql, params)
        return execution_id if stored else None


def prepared_insert(
    constant: dict[str, Any], varying: Sequence[str], condition: str | None = None
) -> PreparedInsert:
    """The INSERT of executions with the ``constant`` attnames' values and, per row, the
    ``varying`` ones' (every other column: its default); ``condition``, an SQL condition
    whose parameters each row gives, as ``insert_execution``'s ``only_if``. The execution id
    is the model's default, new per row: it is what ``insert`` answers."""
    unknown = (constant.keys() | set(varying)) - _attnames()
    if unknown:
        raise TypeError(f"Not Execution attnames: {', '.join(sorted(unknown))}")
    if "execution_id" in constant or "execution_id" in varying:
        raise TypeError("The execution id is generated per row, never given.")
    alias = router.db_for_write(Execution)
    connection = connections[alias]
    template = _new_execution(constant)
    kept, params, generated, moments = [], [], [], []
    moment_field = None
    for field in Execution._meta.concrete_fields:
        if field.primary_key:
            continue
        value = None
        if field.attname in varying:
            pass
        elif isinstance(field, DateTimeField) and (
            field.auto_now or field.auto_now_add or field.default is timezone.now
        ):
            moments.append(len(kept))
            moment_field = field
        elif _differs_per_row(field):
            generated.append((len(kept), field))
        else:
            value = field.get_db_prep_save(field.pre_save(template, True), connection)
            if value is None:
                continue  # left out: the column's NULL, without a parameter per row
        kept.append(field)
        params.append(value)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in kept)
    if condition is None:
        values = "VALUES ({})".format(", ".join(["%s"] * len(kept)))
    else:  # typed: PostgreSQL would read a bare parameter in a SELECT as text
        casts = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in kept)
        values = f"SELECT {casts} WHERE {condition}"
    positions = {field.attname: position for position, field in enumerate(kept)}
    return PreparedInsert(
        alias=alias,
        sql=f"INSERT INTO {quote(Execution._meta.db_table)} ({columns}) {values}",
        template=tuple(params),
        varying=tuple((positions[name], kept[positions[name]]) for name in varying),
        generated=tuple(generated),
        moments=tuple(moments),
        moment_field=moment_field,
    )


def insert_executions(rows: Sequence[dict[str, Any]], *, ignore_conflicts: bool = False) -> int:
    """Store one execution per dict of attnames (``trigger_id``…); a column no row names
    gets its field's default. ``ignore_conflicts``: a row that breaks a unique constraint
    (a slot fired already) is skipped, as with ``bulk_create(ignore_conflicts=True)``.
    Returns how many rows were stored (fewer than given when some were skipped)."""
    if not rows:
        return 0
    alias = router.db_for_write(Execution)
    connection = connections[alias]
    named = set().union(*(row.keys() for row in rows))
    unknown = named - _attnames()
    if unknown:
        raise TypeError(f"Not Execution attnames: {', '.join(sorted(unknown))}")
    fields = [f for f in Execution._meta.concrete_fields if not f.primary_key]
    batch = Execution()  # the values shared by the batch: plain defaults, auto_now, "now"
    selected, shared, arrays = [], [], []
    for field in fields:
        cast = field.db_type(connection)
        if field.attname in named or _differs_per_row(field):
            arrays.append(
                [
                    field.get_db_prep_save(
                        row[field.attname] if field.attname in row else field.get_default(),
                        connection,
                    )
                    for row in rows
                ]
            )
            selected.append((f"v{len(arrays)}", f"CAST(%s AS {cast}[])"))
        else:
            shared.append(field.get_db_prep_save(field.pre_save(batch, True), connection))
            selected.append((f"CAST(%s AS {cast})", None))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if connection.vendor != "postgresql":  # SQLite has no arrays to unnest: rows of VALUES
        return _insert_values(connection, columns, selected, shared, arrays, len(rows), conflicts)
    values = ", ".join(value for value, _ in selected)
    unnest = ", ".join(array for _, array in selected if array)
    names = ", ".join(f"v{n}" for n in range(1, len(arrays) + 1))
    sql = (
        f"INSERT INTO {quote(Execution._meta.db_table)} ({columns}) "
        f"SELECT {values} FROM unnest({unnest}) AS given ({names})"
    )
    with connection.cursor() as cursor:
        # The SELECT list's shared values come before the FROM's arrays in the text.
        cursor.execute(sql + conflicts, [*shared, *arrays])
        return cursor.rowcount


def _insert_values(connection, columns, selected, shared, arrays, count, conflicts) -> int:
    """The same rows as ``INSERT … VALUES (…), (…)``, as many a statement as the database
    takes parameters; how many were stored."""
    stored = 0
    row_size = len(selected)
    per_statement = max(1, (connection.features.max_query_params or 999) // row_size)
    table = connection.ops.quote_name(Execution._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, count, per_statement):
            stop = min(count, start + per_statement)
            params = []
            for index in range(start, stop):
                given, common = iter(arrays), iter(shared)
                params += [next(given)[index] if array else next(common) for _, array in selected]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * row_size) + ")"] * (stop - start))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {placeholders}{conflicts}", params
            )
            stored += cursor.rowcount
    return stored


def _differs_per_row(field) -> bool:
    """A default computed per row (execution_id's uuid4); ``timezone.now`` is one moment
    for the whole batch, as a single INSERT is."""
    return field.has_default() and callable(field.default) and field.default is not timezone.now


def _new_execution(fields: dict[str, Any]) -> Execution:
    """``Execution(**fields)`` through the positional path Django takes for the rows it
    loads (``Model.from_db``), which costs a quarter of the keyword path; a field not given
    gets its default, as with keywords. ``fields`` are keyed by attname (``trigger_id``)."""
    concrete = Execution._meta.concrete_fields
    unknown = fields.keys() - _attnames()
    if unknown:
        raise TypeError(f"Not Execution attnames: {', '.join(sorted(unknown))}")
    return Execution(
        *(fields[f.attname] if f.attname in fields else f.get_default() for f in concrete)
    )


@lru_cache(maxsize=1)
def _attnames() -> frozenset[str]:
    return frozenset(f.attname for f in Execution._meta.concrete_fields)


@lru_cache(maxsize=8)
def _insert_statement(alias: str, condition: str | None) -> tuple[list, str, bool]:
    """(the fields in column order, the INSERT, whether it returns the new primary key)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [f for f in Execution._meta.concrete_fields if not f.primary_key]
    returns_pk = connection.features.can_return_columns_from_insert
    if condition is None:
        values = "VALUES ({})".format(", ".join(["%s"] * len(fields)))
    else:
        casts = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
        values = f"SELECT {casts} WHERE {condition}"
    sql = "INSERT INTO {table} ({columns}) {values}{returning}".format(
        table=quote(Execution._meta.db_table),
        columns=", ".join(quote(f.column) for f in fields),
        values=values,
        returning=f" RETURNING {quote(Execution._meta.pk.column)}" if returns_pk else "",
    )
    return fields, sql, returns_pk
