"""Server-side prepared statements for the request path's one INSERT (PostgreSQL).

PostgreSQL spends more CPU planning ``INSERT ... SELECT`` from the message row
than running it: measured with pgbench, 280 µs of server CPU per statement
sent as text, 162 µs prepared (a bare ``INSERT ... VALUES``, as the ORM sends
it, costs 196 µs). So on PostgreSQL, with Django's default client-side
binding, the statement is prepared once per database connection
(``PREPARE``) and run with ``EXECUTE`` after that: one statement per request,
through Django's cursor (query logging and ``execute_wrapper`` see it).

Nothing depends on it working:

- ``LEADPIXEL["PREPARE_STATEMENTS"] = False`` turns it off.
- With ``OPTIONS["server_side_binding"]`` psycopg prepares by itself, and
  inside a transaction (``ATOMIC_REQUESTS``) a failed ``EXECUTE`` would abort
  it: the plain statement is sent.
- A pooler in transaction mode (PgBouncer) may run ``EXECUTE`` on a server
  connection that never saw the ``PREPARE``. PostgreSQL answers "prepared
  statement does not exist"; the plain statement is sent instead, and after
  ``MAX_MISSES`` such answers the connection stops preparing.

A statement's name carries a hash of its text, so two versions of the app
sharing a server connection never run each other's statements.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re

from django.db import DatabaseError

from .conf import app_settings

logger = logging.getLogger("django_leadpixel")

MAX_MISSES = 3


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


def execute(connection, cursor, sql: str, types: tuple[str, ...], params: list) -> None:
    """Run ``sql`` on ``cursor`` (a Django cursor of ``connection``), prepared where safe."""
    if not _usable(connection):
        cursor.execute(sql, params)
        return
    state = _state(connection)
    if state.misses >= MAX_MISSES:
        cursor.execute(sql, params)
        return
    name, prepare, run = statement(sql, types)
    if name not in state.names:
        try:
            cursor.execute(prepare)
        except DatabaseError as exc:
            if _sqlstate(exc) != "42P05":  # "already exists": a pooler's server connection
                # Whatever else refused it, the plain statement decides (and
                # raises, if the database itself is the trouble).
                state.misses = MAX_MISSES
                logger.warning("leadpixel: could not prepare the request path's statement; "
                               "sending it plain on this connection", exc_info=True)
                cursor.execute(sql, params)
                return
        state.names.add(name)
    try:
        cursor.execute(run, params)
    except DatabaseError as exc:
        if _sqlstate(exc) != "26000":  # invalid_sql_statement_name: not prepared there
            raise
        state.names.discard(name)
        state.misses += 1
        if state.misses >= MAX_MISSES:
            logger.warning("leadpixel: prepared statements keep vanishing on this connection "
                           "(a pooler in transaction mode?); sending plain statements. Set "
                           'LEADPIXEL["PREPARE_STATEMENTS"] = False to skip trying.')
        cursor.execute(sql, params)


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
