"""The request path's time budget on the database (``LEADPIXEL["REQUEST_DB_TIMEOUT"]``).

A pixel or a click must answer, and promptly, whatever the database does: a
locked events table once held a pixel for 8.5 s, and a worker that waits past
its server's timeout is killed with the hit unsaved. So on PostgreSQL the
request path's one statement runs with ``statement_timeout`` and
``lock_timeout`` set to the budget, for that statement only; past it the
statement is cancelled, the hit is spooled (``record``) and the endpoint
answers. The project's other queries keep their own settings.

- In autocommit (the usual case) the budget travels with the statement, in
  one round trip: ``SET LOCAL statement_timeout = …; SET LOCAL lock_timeout =
  …; EXECUTE …``. PostgreSQL runs a query string of several statements as one
  implicit transaction, so ``SET LOCAL`` ends with it. This was the cheapest
  correct way measured (README "Fail-open"; ``benchmarks/request_budget.py``).
- Inside a transaction (``ATOMIC_REQUESTS``, or psycopg's server-side binding,
  which sends one statement per query), ``SET LOCAL`` would outlive the
  statement's savepoint: the values are set before it and put back after it,
  or by the savepoint's rollback if it fails.

A connection attempt is not a statement: a database that accepts connections
and never answers is bounded only by ``DATABASES[…]["OPTIONS"]["connect_timeout"]``
(system check ``leadpixel.W003``). Elsewhere than PostgreSQL there is no
budget (SQLite waits at most its own ``timeout`` for a lock, 5 s by default).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from django.db import transaction

from ..conf import app_settings

_SAVE_AND_SET = ("SELECT s.st, s.lt, set_config('statement_timeout', %s, true), "
                 "set_config('lock_timeout', %s, true) FROM (SELECT "
                 "current_setting('statement_timeout') AS st, "
                 "current_setting('lock_timeout') AS lt OFFSET 0) AS s")
_RESTORE = ("SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)")


def milliseconds(conn) -> int | None:
    """The budget for ``conn``'s request path in ms, or None when none applies."""
    seconds = app_settings.REQUEST_DB_TIMEOUT
    if not seconds or conn.vendor != "postgresql":
        return None
    return max(1, round(seconds * 1000))


@functools.lru_cache(maxsize=8)
def prefix(ms: int) -> str:
    """The budget as statements sent before the request path's statement, in one string."""
    return f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; "


def one_round_trip(conn) -> bool:
    # A query string of several statements: autocommit (so they are one implicit
    # transaction) and client-side binding (server-side binding sends one statement).
    return (not conn.in_atomic_block
            and not conn.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


@contextlib.contextmanager
def within(conn, cursor) -> Iterator[str]:
    """Apply the budget to the statement run inside; yields the prefix to send with it.

    The caller runs the statement inside this block and reads its result with
    ``last_result``. In a transaction the caller's savepoint (``atomic``) must
    enclose this block, so a failed statement rolls the settings back with it.
    """
    ms = milliseconds(conn)
    if ms is None:
        yield ""
        return
    if one_round_trip(conn):
        yield prefix(ms)
        return
    value = f"{ms}ms"
    cursor.execute(_SAVE_AND_SET, [value, value])
    saved = cursor.fetchone()[:2]
    yield ""  # an exception here skips the restore: the savepoint's rollback does it
    cursor.execute(_RESTORE, list(saved))


def atomic_if_needed(conn):
    """The savepoint or transaction the budget needs around the statement, if any.

    In autocommit with one round trip, none: the statement is atomic alone.
    Inside the project's transaction, a savepoint (which also keeps a duplicate
    id from breaking that transaction). With server-side binding in autocommit,
    a short transaction, so that ``set_config(…, true)`` lasts for the statement.
    """
    if conn.in_atomic_block or (milliseconds(conn) is not None and not one_round_trip(conn)):
        return transaction.atomic(using=conn.alias)
    return contextlib.nullcontext()


def last_result(cursor):
    """``cursor`` on the request statement's result, past the prefix's ``SET`` results.

    psycopg 3 stands on the first result of a query string, psycopg2 on the last.
    """
    while cursor.description is None:
        try:
            if not cursor.nextset():
                break
        except Exception:  # noqa: BLE001 - a driver without nextset() stands on the last
            break
    return cursor
