"""The package's hand-written SQL, each statement justified by a benchmark.

Everything else goes through the ORM. What is here, and why (measured against
the ORM and psycopg by ``benchmarks/sql_choices.py``; figures in docs/sql.md):

- **Prepared statements** (``execute``): with Django's default client-side
  binding, the request path's ``INSERT ... SELECT`` is prepared once per
  PostgreSQL connection and run with ``EXECUTE`` after that, through Django's
  cursor: 1.30-1.46x the statements/s of the plain text and 34-39% less
  server CPU per statement (three runs' medians). psycopg prepares by itself
  only with both ``OPTIONS["server_side_binding"]`` and
  ``OPTIONS["prepare_threshold"]`` (Django passes None unless told), a choice
  for the whole site; under server-side binding this steps aside (``EXECUTE``
  cannot carry server-side parameters).
  Nothing depends on it working: ``LEADPIXEL["PREPARE_STATEMENTS"] = False``
  turns it off; inside a transaction the plain statement is sent; behind a
  pooler in transaction mode an ``EXECUTE`` that finds no statement falls
  back to the plain one, and after ``MAX_MISSES`` the connection stops trying.
  A statement's name carries a hash of its text, so two versions of the app
  sharing a server connection never run each other's statements.
- **One hit, one statement** (``insert_plan``): the event is inserted by
  ``INSERT ... SELECT`` from its message row, with the tracking-consent rules
  applied in SQL, so the request path reads nothing first
  (``benchmarks/pixel.py``: the pixel at about the ORM insert's rate).
- **A batch, one statement** (``insert_many``): ``INSERT ... SELECT * FROM
  unnest(arrays) ON CONFLICT DO NOTHING`` for the Redis drain and the spool
  replay on PostgreSQL. Django 5.2's ``bulk_create(ignore_conflicts=True)``
  sends the same statement, but prepares every value in Python: 1.30-1.59x
  its rows/s for 1,000-row batches, with 39% less Python CPU per row and the
  same server CPU; against Django 4.2's ``bulk_create`` (``VALUES`` lists)
  3.3-3.8x.
- **Enrichment of a batch, one statement** (``update_many``): ``UPDATE ...
  FROM unnest(arrays)`` for the sweep on PostgreSQL: 2.5-4.5x one
  ``.update()`` per distinct set of values on 1,000 rows (the more distinct
  the rows, the wider the gap), and 10-20x that again over ``bulk_update``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import uuid
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.db import DatabaseError, connections, models

from .conf import app_settings
from .models import CONSENT_ONLY, KINDS, REPEAT_KEYS, EventModel, Message

logger = logging.getLogger("django_leadpixel")

MAX_MISSES = 3
# query_canceled (statement_timeout) and lock_not_available (lock_timeout).
TIMED_OUT = frozenset({"57014", "55P03"})


class _State:
    """What is prepared on one DB-API connection (a new connection starts with nothing)."""

    __slots__ = ("raw", "names", "misses")

    def __init__(self, raw) -> None:
        self.raw = raw
        self.names: set[str] = set()
        self.misses = 0


def _state(connection) -> _State:
    # Kept on Django's connection wrapper (one per thread and alias), checked
    # against the DB-API connection it wraps now: a reconnect starts afresh.
    state = getattr(connection, "_leadpixel_prepared", None)
    if state is None or state.raw is not connection.connection:
        state = connection._leadpixel_prepared = _State(connection.connection)
    return state


@functools.lru_cache(maxsize=32)
def statement(sql: str, types: tuple[str, ...]) -> tuple[str, str, str]:
    """(name, PREPARE text, EXECUTE text) for ``sql`` with ``%s`` parameters of ``types``."""
    parts = sql.split("%s")
    if len(parts) - 1 != len(types):
        raise ValueError(f"{len(parts) - 1} placeholders for {len(types)} types")
    numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    name = "leadpixel_" + hashlib.sha256(f"{types}{sql}".encode()).hexdigest()[:16]
    prepare = f"PREPARE {name} ({', '.join(types)}) AS {numbered}"
    execute = f"EXECUTE {name} ({', '.join(['%s'] * len(types))})" if types else f"EXECUTE {name}"
    return name, prepare, execute


def param_type(field, connection) -> str:
    """The type of a parameter that fills ``field``'s column.

    ``varchar(n)`` becomes ``text``: casting to ``varchar(n)`` would cut an
    over-long value silently, where the column refuses it.
    """
    db_type = field.db_type(connection)
    return "text" if re.match(r"(varchar|character varying)\b", db_type) else db_type


def _usable(connection) -> bool:
    # In autocommit only: inside a transaction a failed EXECUTE would abort it,
    # and the request path's savepoint costs more than the planning saved.
    return (connection.vendor == "postgresql" and app_settings.PREPARE_STATEMENTS
            and not connection.in_atomic_block and connection.connection is not None
            and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


def execute(connection, cursor, sql: str, types: tuple[str, ...], params: list,
            prefix: str = "") -> None:
    """Run ``sql`` on ``cursor`` (a Django cursor of ``connection``), prepared where safe.

    ``prefix`` (statements ending in ``; ``) is sent in the same query string before
    each statement, the ``PREPARE`` included (``ingest.budget``'s ``SET LOCAL``).
    """
    if not _usable(connection):
        cursor.execute(prefix + sql, params)
        return
    state = _state(connection)
    if state.misses >= MAX_MISSES:
        cursor.execute(prefix + sql, params)
        return
    name, prepare, run = statement(sql, types)
    if name not in state.names:
        try:
            cursor.execute(prefix + prepare)
        except DatabaseError as exc:
            if _sqlstate(exc) in TIMED_OUT:
                raise  # the database is slow or locked, not refusing to prepare
            if _sqlstate(exc) != "42P05":  # "already exists": a pooler's server connection
                # Whatever else refused it, the plain statement decides (and
                # raises, if the database itself is the trouble).
                state.misses = MAX_MISSES
                logger.warning("leadpixel: could not prepare the request path's statement; "
                               "sending it plain on this connection", exc_info=True)
                cursor.execute(prefix + sql, params)
                return
        state.names.add(name)
    try:
        cursor.execute(prefix + run, params)
    except DatabaseError as exc:
        if _sqlstate(exc) != "26000":  # invalid_sql_statement_name: not prepared there
            raise
        state.names.discard(name)
        state.misses += 1
        if state.misses >= MAX_MISSES:
            logger.warning("leadpixel: prepared statements keep vanishing on this connection "
                           "(a pooler in transaction mode?); sending plain statements. Set "
                           'LEADPIXEL["PREPARE_STATEMENTS"] = False to skip trying.')
        cursor.execute(prefix + sql, params)


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


# --- one hit, one statement --------------------------------------------------


# Fields whose stored value depends on the message's tracking consent.
CONSENT_FIELDS = ("ip", "user_agent", "anonymous", "reason")


class InsertPlan(NamedTuple):
    sql: str
    # One slot per parameter, in order: ``(field, None)`` takes the field's
    # value from the row to store, ``(None, value)`` is a constant.
    slots: list[tuple[Any, Any]]
    types: tuple[str, ...]  # each parameter's database type (for PREPARE)


@functools.lru_cache(maxsize=8)
def insert_plan(kind: str, alias: str, dynamic: frozenset[str],
                without_consent: tuple[tuple[str, Any], ...],
                from_message: bool = True, repeats: bool = False) -> InsertPlan:
    """The INSERT of one event, built once per database and kind.

    The column list comes from the model, so it follows migrations; constants
    (enrichment columns, which start empty, and what is stored without
    consent) are written as literals, not parameters to adapt per request.
    ``from_message``: ``INSERT ... SELECT`` from the message row (by public
    id, the consent rules applied in SQL); else ``INSERT ... VALUES`` for a
    row whose message was read already (databases without RETURNING).
    ``dynamic`` names the fields each hit fills; ``without_consent`` the
    values stored instead of ``CONSENT_FIELDS`` without consent. With
    ``repeats``, nothing is inserted when the message has an identical event
    (``REPEAT_FIELDS``, as it would be stored) between the row's
    ``repeat_since`` and ``repeat_until``: the caller counts the hit on it.
    """
    conn = connections[alias]
    quote = conn.ops.quote_name
    model = KINDS[kind]
    without = dict(without_consent)
    slots: list[tuple[models.Field | None, Any]]
    columns, values, slots, types = [], [], [], []

    def constant(f, value) -> str:
        value = f.get_db_prep_save(value, conn)
        text = literal(value, conn)
        if text is None:
            slots.append((None, value))
            types.append(param_type(f, conn))
        return "%s" if text is None else text

    for f in model._meta.concrete_fields:
        columns.append(quote(f.column))  # type: ignore[arg-type]  # a concrete field has a column
        if from_message and f.name == "message":
            values.append("m.id")
        elif from_message and f.name in CONSENT_FIELDS:
            slots.append((f, None))
            types.append(param_type(f, conn))
            otherwise = constant(f, without[f.name])
            # The cast: PostgreSQL types a CASE of an untyped parameter as text.
            values.append(conn.ops.unification_cast_sql(f)
                          % f"CASE WHEN m.tracking_consent THEN %s ELSE {otherwise} END")
        elif f.name in dynamic or f.attname in dynamic:
            values.append("%s")
            slots.append((f, None))
            types.append(param_type(f, conn))
        else:
            values.append(constant(f, f.get_default()))
    insert = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "
    if from_message:
        types.append(param_type(Message._meta.get_field("public_id"), conn))
        slots.append((cast(models.Field, Message._meta.get_field("public_id")), "public_id"))
        guard = _repeat_guard(model, conn, without, slots, types) if repeats else ""
        if kind in CONSENT_ONLY:  # never stored anonymously: nothing without consent
            guard = " AND m.tracking_consent" + guard
        return InsertPlan(insert + f"SELECT {', '.join(values)} FROM "
                          f"{quote(Message._meta.db_table)} m WHERE m.public_id = %s{guard} "
                          "RETURNING message_id, anonymous", slots, tuple(types))
    return InsertPlan(insert + f"VALUES ({', '.join(values)})", slots, tuple(types))


def literal(value: Any, conn) -> str | None:
    """SQL for a constant (None when it must stay a parameter)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if conn.vendor == "postgresql":
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"
    if isinstance(value, str) and value.isprintable() and "%" not in value and "\\" not in value:
        return "'" + value.replace("'", "''") + "'"  # standard SQL; % would be a placeholder
    return None


def params_of(slots: list[tuple[Any, Any]], row: dict[str, Any], conn) -> list[Any]:
    """The parameters of a plan: a slot ``(field, None)`` takes the field's value from
    ``row``, ``(field, "key")`` the value of ``row["key"]``, ``(None, value)`` a constant."""
    return [value if f is None else f.get_db_prep_save(row[value or f.attname], conn)
            for f, value in slots]


# What makes two hits of one message the same hit again (a replayed token, a
# double load): compared as stored, the privacy rules applied.
REPEAT_FIELDS = ("ip", "user_agent", "method")


def _repeat_guard(model, conn, without: dict[str, Any], slots: list, types: list) -> str:
    """``AND NOT EXISTS (an identical event of the message within the window)``.

    Served by the ``(message, occurred_at)`` index: a few rows at most.
    """
    quote = conn.ops.quote_name
    same = "IS NOT DISTINCT FROM" if conn.vendor == "postgresql" else "IS"
    time = model._meta.get_field("occurred_at")
    conditions = [f"e.{quote(model._meta.get_field('message').column)} = m.id"]
    for key, op in (("repeat_since", ">="), ("repeat_until", "<=")):
        conditions.append(f"e.{quote(time.column)} {op} %s")
        slots.append((time, key))
        types.append(param_type(time, conn))
    names = [*REPEAT_FIELDS, *REPEAT_KEYS[model._meta.model_name]]
    for name in names:
        f = model._meta.get_field(name)
        slots.append((f, None))
        types.append(param_type(f, conn))
        value = "%s"
        if name in CONSENT_FIELDS:  # stored as the message's consent says
            otherwise = literal(f.get_db_prep_save(without[name], conn), conn)
            value = (conn.ops.unification_cast_sql(f)
                     % f"CASE WHEN m.tracking_consent THEN %s ELSE {otherwise} END")
        conditions.append(f"e.{quote(f.column)} {same} {value}")
    return (f" AND NOT EXISTS (SELECT 1 FROM {quote(model._meta.db_table)} e "
            f"WHERE {' AND '.join(conditions)})")


# --- a batch, one statement -------------------------------------------------------


def insert_many(connection, model: EventModel, rows: list) -> None:
    """Insert ``rows`` of ``model``, skipping ids stored before (one statement on PostgreSQL)."""
    if not rows:
        return
    sql = _unnest_sql(model, connection.alias)
    if sql is None:
        model.objects.bulk_create(rows, ignore_conflicts=True)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, [_column(f, rows, connection) for f in model._meta.concrete_fields])


@functools.lru_cache(maxsize=8)
def _unnest_sql(model: type[models.Model], alias: str) -> str | None:
    """``INSERT ... SELECT * FROM unnest(column arrays) ON CONFLICT DO NOTHING``.

    What Django 5.2's ``bulk_create(ignore_conflicts=True)`` sends on
    PostgreSQL (4.2's sends ``VALUES`` lists), without its per-value
    preparation: 39% less Python CPU per row (docs/sql.md). The arrays are
    text-typed where the column is varchar, so an over-long value is refused
    by the column as before, not cut by a cast.
    None (use ``bulk_create``) on other databases, or if a field sets its own
    value on save (``auto_now``), which only the ORM's ``pre_save`` does.
    """
    conn = connections[alias]
    quote = conn.ops.quote_name
    fields = model._meta.concrete_fields
    if conn.vendor != "postgresql" or any(
            getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in fields):
        return None
    arrays = ", ".join(f"%s::{param_type(f, conn)}[]" for f in fields)
    return (f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "  # type: ignore[arg-type]  # as above
            f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING")


# Values PostgreSQL takes as they are for these fields; anything else (a
# TextChoices member, an address for inet, a naive datetime, which Django makes
# aware in TIME_ZONE) goes through the field's own preparation.
_AS_IS = frozenset({str, int, float, bool, type(None), uuid.UUID})
_AS_IS_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.IntegerField,
                 models.FloatField, models.UUIDField, models.DateTimeField, models.ForeignKey)


def _column(field, rows: list, conn) -> list[Any]:
    name = field.attname
    if isinstance(field, _AS_IS_FIELDS):
        return [value if type(value) in _AS_IS
                or (type(value) is datetime and value.tzinfo is not None)
                else field.get_db_prep_save(value, conn)
                for value in (getattr(row, name) for row in rows)]
    return [field.get_db_prep_save(getattr(row, name), conn) for row in rows]


def update_many(connection, model: type[models.Model], rows: list, values_of,
                *, fields: tuple[str, ...], only_new: bool) -> int:
    """PostgreSQL: ``fields`` of the whole batch in one ``UPDATE ... FROM unnest(arrays)``.

    ``values_of(row)`` gives each row's values by field name. People's rows
    rarely share a place and a device, so grouping still leaves about one
    statement per row; one statement per batch, with one array parameter per
    column, is what lets the sweep keep up. With ``only_new``, rows whose
    first field (``enriched_at``) is set already are left alone.
    """
    targets = [model._meta.pk, *(model._meta.get_field(name) for name in fields)]
    names = [connection.ops.quote_name(f.column) for f in targets]
    columns: list[list[Any]] = [[] for _ in targets]
    for row in rows:
        values = values_of(row)
        columns[0].append(targets[0].get_db_prep_value(row.pk, connection))
        for i, f in enumerate(targets[1:], 1):
            columns[i].append(f.get_db_prep_save(values[f.name], connection))
    arrays = ", ".join(f"%s::{param_type(f, connection)}[]" for f in targets)
    guard = f" AND t.{names[1]} IS NULL" if only_new else ""
    sql = (f"UPDATE {connection.ops.quote_name(model._meta.db_table)} AS t SET "
           + ", ".join(f"{n} = v.{n}" for n in names[1:])
           + f" FROM unnest({arrays}) AS v({', '.join(names)})"
           + f" WHERE t.{names[0]} = v.{names[0]}{guard}")
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        return cursor.rowcount
