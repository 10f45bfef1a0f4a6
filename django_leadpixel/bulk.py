"""Store many hits at once: the spool replay and the ingest buffer's drain.

Idempotent by event id (made in the request), so a batch stored twice, or a
line both spooled and buffered, is stored once.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from django.db import DataError, IntegrityError, connections, models, transaction

from . import history, prepared, rollup
from .classify import Verdict
from .hits import Hit
from .models import KINDS, Click, Message, Open
from .recording import _send_signal, build_event

logger = logging.getLogger("django_leadpixel")


def store_many(items: list[tuple[Hit, Verdict]]) -> Counter[str]:
    """Store parsed lines in bulk, idempotently by event id.

    Used by the spool replay and the ingest buffer. Messages are read in one
    query, rows inserted with ``ignore_conflicts`` (an id stored before is
    skipped), and the clicks are judged with their messages' history
    (``history.settle``: the batch's own events and those already stored). The
    events are enriched in the same pass: they never wait for the sweep.
    Returns counts of "stored", "duplicate" and "orphan" (message gone).
    """
    from .jobs import enrichment_for

    counts: Counter[str] = Counter()
    if not items:
        return counts
    messages = Message.objects.only("pk", "public_id", "sent_at", "tracking_consent").in_bulk(
        {hit.message_id for hit, _ in items}, field_name="public_id")
    existing = {
        model: set(model.objects.filter(pk__in=[h.id for h, _ in items]).values_list("pk", flat=True))
        for model in (Open, Click)
    }
    events: list[Open | Click] = []
    seen: set[uuid.UUID] = set()
    for hit, verdict in items:
        message = messages.get(hit.message_id)
        model = KINDS[hit.kind]
        if message is None:
            counts["orphan"] += 1
        elif hit.id in existing[model] or hit.id in seen:
            counts["duplicate"] += 1
        else:
            seen.add(hit.id)
            events.append(build_event(hit, message, verdict))
    # Judged with their history first: stored clicks that a burst in this batch
    # convicts are updated now (were the insert to fail, the retried batch
    # would convict them again).
    history.settle([event for event in events if isinstance(event, Click)],
                   opens=[event for event in events if isinstance(event, Open)],
                   sent_at={message.pk: message.sent_at for message in messages.values()},
                   stored=False)
    for event in events:
        for name, value in enrichment_for(event).items():
            setattr(event, name, value)
    try:
        with transaction.atomic():
            _insert(events)
    except REFUSED_ROW:
        # One row the database refuses must not keep the others out (and make
        # every later replay fail the same way): store them one at a time.
        kept = []
        for event in events:
            try:
                with transaction.atomic():
                    _insert([event])
                kept.append(event)
            except REFUSED_ROW:
                counts["bad"] += 1
                logger.exception("leadpixel: the database refused %s %s", event._meta.model_name,
                                 event.pk)
        events = kept
    rollup.mark_messages_after_commit(event.message_id for event in events)
    for event in events:
        _send_signal(event, None)
    counts["stored"] += len(events)
    return counts


# Errors that belong to one row (bad data), not to the database being down.
REFUSED_ROW = (DataError, IntegrityError, UnicodeError, ValueError)


def _insert(events: list[Open | Click]) -> None:
    conn = transaction.get_connection()
    for model in (Open, Click):
        rows = [e for e in events if type(e) is model]
        if not rows:
            continue
        sql = _unnest_sql(model, conn.alias)
        if sql is None:
            model.objects.bulk_create(rows, ignore_conflicts=True)
            continue
        with conn.cursor() as cursor:
            cursor.execute(sql, [_column(f, rows, conn) for f in model._meta.concrete_fields])


@functools.lru_cache(maxsize=8)
def _unnest_sql(model: type[Open] | type[Click], alias: str) -> str | None:
    """``INSERT ... SELECT * FROM unnest(column arrays) ON CONFLICT DO NOTHING``.

    What ``bulk_create(ignore_conflicts=True)`` sends on PostgreSQL, without
    its per-value preparation: that, with the array dumping, was 40% of a
    drain's CPU. The arrays are text-typed where the column is varchar, so an
    over-long value is refused by the column as before, not cut by a cast.
    None (use ``bulk_create``) on other databases, or if a field sets its own
    value on save (``auto_now``), which only the ORM's ``pre_save`` does.
    """
    conn = connections[alias]
    quote = conn.ops.quote_name
    fields = model._meta.concrete_fields
    if conn.vendor != "postgresql" or any(
            getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in fields):
        return None
    arrays = ", ".join(f"%s::{prepared.param_type(f, conn)}[]" for f in fields)
    return (f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING")


# Values PostgreSQL takes as they are for these fields; anything else (a
# TextChoices member, an address for inet, a naive datetime, which Django makes
# aware in TIME_ZONE) goes through the field's own preparation.
_AS_IS = frozenset({str, int, float, bool, type(None), uuid.UUID})
_AS_IS_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.IntegerField,
                 models.FloatField, models.UUIDField, models.DateTimeField, models.ForeignKey)


def _column(field, rows: list[Open | Click], conn) -> list[Any]:
    name = field.attname
    if isinstance(field, _AS_IS_FIELDS):
        return [value if type(value) in _AS_IS
                or (type(value) is datetime and value.tzinfo is not None)
                else field.get_db_prep_save(value, conn)
                for value in (getattr(row, name) for row in rows)]
    return [field.get_db_prep_save(getattr(row, name), conn) for row in rows]


