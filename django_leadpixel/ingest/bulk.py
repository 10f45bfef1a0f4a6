"""Store many hits at once: the spool replay and the ingest buffer's drain.

Idempotent by event id (made in the request), so a batch stored twice, or a
line both spooled and buffered, is stored once.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter

from django.db import DataError, IntegrityError, transaction

from .. import history, sql
from ..classify import Verdict
from ..enrichment import enrichment_for
from ..models import KINDS, Click, Message, Open, ReportDirty, fit
from .events import build_event, send_recorded
from .hits import Hit

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
        for name, value in fit(type(event), enrichment_for(event)).items():
            setattr(event, name, value)
    try:
        with transaction.atomic():
            insert_events(events)
    except REFUSED_ROW:
        # One row the database refuses must not keep the others out (and make
        # every later replay fail the same way): store them one at a time.
        kept = []
        for event in events:
            try:
                with transaction.atomic():
                    insert_events([event])
                kept.append(event)
            except REFUSED_ROW:
                counts["bad"] += 1
                logger.exception("leadpixel: the database refused %s %s", event._meta.model_name,
                                 event.pk)
        events = kept
    ReportDirty.objects.mark_messages_after_commit(event.message_id for event in events)
    for event in events:
        send_recorded(event, None)
    counts["stored"] += len(events)
    return counts


# Errors that belong to one row (bad data), not to the database being down.
REFUSED_ROW = (DataError, IntegrityError, UnicodeError, ValueError)


def insert_events(events: list[Open | Click]) -> None:
    """Insert events of either kind, skipping ids stored before (``sql.insert_many``)."""
    conn = transaction.get_connection()
    for model in (Open, Click):
        sql.insert_many(conn, model, [event for event in events if type(event) is model])
