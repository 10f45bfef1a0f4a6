"""Store many hits at once: the spool replay and the ingest buffer's drain.

Idempotent by event id (made in the request), so a batch stored twice, or a
line both spooled and buffered, is stored once.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import F

from .. import history, sql
from ..classify import Verdict
from ..conf import app_settings
from ..enrichment import enrichment_for
from ..models import (
    CONSENT_ONLY,
    KINDS,
    REPEAT_KEYS,
    Click,
    Download,
    EventModel,
    Message,
    Open,
    ReportDirty,
    Visit,
    fit,
)
from .events import build_event, send_recorded
from .hits import Hit

logger = logging.getLogger("django_leadpixel")

AnyEvent = Open | Click | Download | Visit


def store_many(items: list[tuple[Hit, Verdict]]) -> Counter[str]:
    """Store parsed lines in bulk, idempotently by event id.

    Used by the spool replay and the ingest buffer. Messages are read in one
    query, rows inserted with ``ignore_conflicts`` (an id stored before is
    skipped), and the clicks and downloads are judged with their messages' history
    (``history.settle``: the batch's own events and those already stored). The
    events are enriched in the same pass: they never wait for the sweep.
    A hit identical to another of its message within ``REPEAT_WINDOW`` (in
    the batch or stored) is counted on that event's ``repeats``, as on the
    request path. Returns counts of "stored", "duplicate", "repeat" and
    "orphan" (message gone).
    """
    counts: Counter[str] = Counter()
    if not items:
        return counts
    messages = Message.objects.only("pk", "public_id", "sent_at", "tracking_consent").in_bulk(
        {hit.message_id for hit, _ in items}, field_name="public_id")
    existing = {
        model: set(model.objects.filter(pk__in=[h.id for h, _ in items]).values_list("pk", flat=True))
        for model in {KINDS[hit.kind] for hit, _ in items}
    }
    events: list[AnyEvent] = []
    seen: set[uuid.UUID] = set()
    for hit, verdict in items:
        message = messages.get(hit.message_id)
        model = KINDS[hit.kind]
        if message is None:
            counts["orphan"] += 1
        elif hit.kind in CONSENT_ONLY and not message.tracking_consent:
            counts["no_consent"] += 1
        elif hit.id in existing.get(model, ()) or hit.id in seen:
            counts["duplicate"] += 1
        else:
            seen.add(hit.id)
            events.append(build_event(hit, message, verdict))
    if app_settings.REPEAT_WINDOW > 0:
        events, counts["repeat"] = collapse_repeats(events)
    # Judged with their history first: stored clicks that a burst in this batch
    # convicts are updated now (were the insert to fail, the retried batch
    # would convict them again).
    history.settle([event for event in events if isinstance(event, history.LINK_MODELS)],
                   opens=[event for event in events if isinstance(event, Open)],
                   sent_at={message.pk: message.sent_at for message in messages.values()},
                   stored=False)
    history.settle_visits([event for event in events if isinstance(event, Visit)],
                          clicks=[event for event in events if isinstance(event, Click)])
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


def collapse_repeats(events: list[AnyEvent]) -> tuple[list[AnyEvent], int]:
    """``events`` without those that repeat an identical event of their message within
    ``REPEAT_WINDOW`` (the batch's own or a stored one), which count on its ``repeats``.

    Identical means ``sql.REPEAT_FIELDS`` (and the link of a click) as stored,
    as the request path's guard compares them. Returns the events to insert,
    and how many were repeats.
    """
    if not events:
        return events, 0
    window = timedelta(seconds=app_settings.REPEAT_WINDOW)
    times = [event.occurred_at for event in events]
    stored: list[AnyEvent] = []
    for model in KINDS.values():
        ids = {event.message_id for event in events if type(event) is model}
        if ids:
            stored += model.objects.filter(
                message_id__in=ids, occurred_at__range=(min(times) - window,
                                                        max(times) + window)).only(
                "id", "message_id", "occurred_at", *REPEAT_KEY_FIELDS[model], "repeats")
    batch = {id(event) for event in events}
    groups: dict[tuple, list[AnyEvent]] = defaultdict(list)
    for event in sorted([*stored, *events], key=lambda e: e.occurred_at):
        groups[_repeat_key(event)].append(event)
    kept: list[AnyEvent] = []
    more: Counter[tuple[EventModel, Any]] = Counter()
    for group in groups.values():
        anchor = None
        for event in group:
            if anchor is not None and event.occurred_at - anchor.occurred_at <= window \
                    and id(event) in batch:
                if id(anchor) in batch:
                    anchor.repeats += 1
                else:
                    more[(type(anchor), anchor.pk)] += 1
                continue
            anchor = event
            if id(event) in batch:
                kept.append(event)
    by_count: dict[tuple[EventModel, int], list[Any]] = defaultdict(list)
    for (kind, pk), n in more.items():
        by_count[(kind, n)].append(pk)
    for (kind, n), pks in by_count.items():
        kind.objects.filter(pk__in=pks).update(repeats=F("repeats") + n)
    kept_ids = {id(event) for event in kept}
    return [event for event in events if id(event) in kept_ids], len(events) - len(kept)


REPEAT_KEY_FIELDS = {model: (*sql.REPEAT_FIELDS, *REPEAT_KEYS[kind]) for kind, model in KINDS.items()}


def _repeat_key(event: AnyEvent) -> tuple:
    return (type(event), event.message_id,
            *(getattr(event, name) for name in REPEAT_KEY_FIELDS[type(event)]))


# Errors that belong to one row (bad data), not to the database being down.
REFUSED_ROW = (DataError, IntegrityError, UnicodeError, ValueError)


def insert_events(events: list[AnyEvent]) -> None:
    """Insert events of either kind, skipping ids stored before (``sql.insert_many``)."""
    conn = transaction.get_connection()
    for model in KINDS.values():
        sql.insert_many(conn, model, [event for event in events if type(event) is model])
