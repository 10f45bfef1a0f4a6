"""Timelines: a message's (sent, then every open, click, download and visit in time
order), and what any timeline reads of an event (the lead page's too, ``leads``)."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from ..models import KIND_FIELDS, KINDS, Document, Message

TIMELINE_FIELDS = ("id", "message_id", "occurred_at", "source", "reason", "operator", "masked",
                   "anonymous", "country", "region", "city", "device_type", "os", "browser",
                   "mail_client", "enriched_at")
TIMELINE_LIMIT = 500


def timeline_rows(kind: str, events: QuerySet) -> QuerySet:
    """``events`` of ``kind`` with what a timeline shows of them: ``TIMELINE_FIELDS``,
    the kind's own fields (``models.KIND_FIELDS``) and, on a download, the document's
    title as ``document_title`` (blank once the document is deleted), in the same query."""
    rows = events.only(*TIMELINE_FIELDS, *KIND_FIELDS[kind])
    if kind == "download":
        title = Document.objects.filter(public_id=OuterRef("document_id")).values("title")[:1]
        rows = rows.annotate(document_title=Coalesce(Subquery(title), Value("")))
    return rows


def timeline(message: Message, limit: int = TIMELINE_LIMIT) -> list[dict[str, Any]]:
    """Sent, then every open, click, download and visit of ``message`` in time order
    (one indexed query per kind).

    Each entry: ``kind`` ("sent", or a kind of ``models.KINDS``), ``at``, and for
    events the stored row as ``event`` (``timeline_rows``). At most ``limit`` events
    of each kind, the earliest ones: a message that a bot hammers should not make
    the page unusable.
    """
    entries: list[dict[str, Any]] = [{"kind": "sent", "at": message.sent_at, "event": None}]
    for kind, model in KINDS.items():
        rows = timeline_rows(kind, model.objects.filter(message=message)).order_by("occurred_at")
        entries.extend({"kind": kind, "at": row.occurred_at, "event": row} for row in rows[:limit])
    # "sent" sorts first when an event carries the very same timestamp, then the kinds in order.
    order = {kind: n for n, kind in enumerate(["sent", *KINDS])}
    entries.sort(key=lambda e: (e["at"], order[e["kind"]]))
    return entries
