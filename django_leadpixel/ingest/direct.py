"""The direct backend: each request stores its own row (``INGEST = "direct"``).

On PostgreSQL (and any database that returns rows from an INSERT) a hit is
one ``INSERT ... SELECT`` from its message row, the tracking-consent rules
applied in SQL (``sql.insert_plan``); elsewhere the message is read, then one
row inserted. Either way the row carries what the request showed; what the
message's history adds to a click's verdict is settled when it is enriched
(``history.settle``, through ``jobs``).
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Subquery

from .. import sql
from ..classify import Verdict
from ..conf import app_settings
from ..models import CONSENT_ONLY, KINDS, REPEAT_KEYS, Message
from . import budget
from .events import announce_after_commit, build_event, stored_fields
from .hits import Hit


class DirectBackend:
    """Stores a hit in the request. ``store`` returns the stored row's fields
    (or the built event), or None when the message is gone or the hit was
    stored before."""

    def store(self, hit: Hit, verdict: Verdict) -> dict[str, Any] | Any | None:
        conn = transaction.get_connection()
        if conn.features.can_return_columns_from_insert:
            return insert_hit(hit, verdict)
        message = message_for(hit)
        if message is None or (hit.kind in CONSENT_ONLY and not message.tracking_consent):
            return None
        event = build_event(hit, message, verdict)
        if app_settings.REPEAT_WINDOW > 0 and count_repeat(hit, event.__dict__):
            return None
        return event if store_event(event) else None


@functools.lru_cache(maxsize=8)
def _plan_inputs(kind: str) -> tuple[frozenset[str], tuple[tuple[str, Any], ...]]:
    # Which fields a hit fills, and what is stored without consent, read off the
    # privacy rules themselves (``stored_fields``), so the SQL cannot drift from them.
    blank = Hit(kind=kind, message_id=uuid.UUID(int=0))
    dynamic = frozenset(stored_fields(blank, Verdict("unknown", ""), True)) | {"message"}
    without = tuple(stored_fields(blank, Verdict("unknown", ""), False).items())
    return dynamic, without


def plan(kind: str, alias: str, from_message: bool = True) -> sql.InsertPlan:
    return _plan(kind, alias, from_message, from_message and app_settings.REPEAT_WINDOW > 0)


@functools.lru_cache(maxsize=16)
def _plan(kind: str, alias: str, from_message: bool, repeats: bool) -> sql.InsertPlan:
    # Cached on plain keys: the request path does not hash the plan's inputs each time.
    return sql.insert_plan(kind, alias, *_plan_inputs(kind), from_message=from_message,
                           repeats=repeats)


def repeat_range(hit: Hit) -> tuple[datetime, datetime]:
    """When an identical event of the message makes ``hit`` a repeat of it."""
    window = timedelta(seconds=app_settings.REPEAT_WINDOW)
    return hit.occurred_at - window, hit.occurred_at + window


def count_repeat(hit: Hit, stored: dict[str, Any]) -> bool:
    """Add ``hit`` to the ``repeats`` of the message's latest identical event within
    the window. False when there is none (the message is gone)."""
    model = KINDS[hit.kind]
    since, until = repeat_range(hit)
    extra = {name: stored[name] for name in REPEAT_KEYS[hit.kind]}
    same = Q(**{name: stored[name] for name in sql.REPEAT_FIELDS}, **extra)
    same |= Q(anonymous=True, method=stored["method"], **extra)
    latest = model.objects.filter(same, message__public_id=hit.message_id,
                                  occurred_at__range=(since, until)).order_by("-occurred_at")
    return bool(model.objects.filter(pk__in=Subquery(latest.values("pk")[:1]))
                .update(repeats=F("repeats") + 1))


def insert_hit(hit: Hit, verdict: Verdict) -> dict[str, Any] | None:
    """Store a hit in ONE statement: ``INSERT ... SELECT`` from the message row.

    The message is read by the INSERT itself, with the tracking-consent rules
    applied in SQL, so the request costs about what a bare ORM insert costs.
    On PostgreSQL it runs within the request budget (``budget``): past
    ``REQUEST_DB_TIMEOUT`` it raises, and ``record`` spools the hit.
    Returns the stored row's fields, or None when the message is gone, the
    hit was stored before, or it repeats an identical event of the message
    within ``REPEAT_WINDOW`` (counted on that event's ``repeats``).
    """
    conn = transaction.get_connection()
    insert = plan(hit.kind, conn.alias)
    stored = stored_fields(hit, verdict, True)
    since, until = repeat_range(hit)
    params = sql.params_of(insert.slots, {**stored, "public_id": hit.message_id,
                                          "repeat_since": since, "repeat_until": until}, conn)
    try:
        with budget.atomic_if_needed(conn), conn.cursor() as cursor, \
                budget.within(conn, cursor) as prefix:
            sql.execute(conn, cursor, insert.sql, insert.types, params, prefix=prefix)
            row = budget.last_result(cursor).fetchone()
    except IntegrityError:
        if KINDS[hit.kind].objects.filter(pk=hit.id).exists():
            return None  # stored before: writing it twice is a no-op
        raise
    if row is None:
        # The message is gone, or it has this very hit already (a replayed token,
        # a double load): then it is counted there.
        if app_settings.REPEAT_WINDOW > 0:
            count_repeat(hit, stored)
        return None
    announce_after_commit(hit.kind, hit.id)
    if row[1]:  # no consent: the SQL stored the anonymous values
        stored = stored_fields(hit, verdict, False)
    return {**stored, "message_id": row[0]}


def message_for(hit: Hit) -> Message | None:
    """The message of ``hit``, in one query (None when it is gone).

    A real ``Message`` (the columns storing needs, the others loaded when a
    signal receiver reads them), on databases without ``RETURNING`` only.
    """
    return Message.objects.only("pk", "public_id", "tracking_consent").filter(
        public_id=hit.message_id).first()


def store_event(event) -> bool:
    """Insert ``event``; False when a row with its id exists already."""
    conn = transaction.get_connection()
    try:
        with budget.atomic_if_needed(conn):
            if event._meta.model_name != "click":
                event.save(force_insert=True)
            else:  # the prepared plan: the same row as save(), less CPU
                insert = plan("click", conn.alias, from_message=False)
                with conn.cursor() as cursor:
                    cursor.execute(insert.sql, sql.params_of(insert.slots, event.__dict__, conn))
                event._state.adding = False
    except IntegrityError:
        if type(event).objects.filter(pk=event.pk).exists():
            return False
        raise
    announce_after_commit(event._meta.model_name, event.pk)
    return True
