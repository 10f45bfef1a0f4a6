"""A message's timeline: sent, then every open, click, download and visit in time order."""

from __future__ import annotations

from typing import Any

from ..models import Click, Document, Download, Message, Open, Visit

TIMELINE_FIELDS = ("id", "occurred_at", "source", "reason", "operator", "masked", "anonymous",
                   "country", "region", "city", "device_type", "os", "browser", "mail_client",
                   "enriched_at")
TIMELINE_LIMIT = 500


def timeline(message: Message, limit: int = TIMELINE_LIMIT) -> list[dict[str, Any]]:
    """Sent, then every open, click, download and visit of ``message`` in time order
    (one indexed query per kind).

    Each entry: ``kind`` ("sent", "open", "click", "download", "visit"), ``at``, and
    for events the stored row as ``event`` (with ``url`` and ``position`` on clicks,
    ``image`` on opens, ``document_id`` on downloads, and the document's title
    as ``document``, blank once it is deleted; ``path`` and ``referrer_host`` on
    visits). At most
    ``limit`` events of each kind, the earliest ones: a message that a bot
    hammers should not make the page unusable.
    """
    entries: list[dict[str, Any]] = [{"kind": "sent", "at": message.sent_at, "event": None}]
    for kind, model, extra in (("open", Open, ("image",)), ("click", Click, ("url", "position")),
                               ("download", Download, ("document",)),
                               ("visit", Visit, ("path", "referrer_host"))):
        rows = model.objects.filter(message=message).only(*TIMELINE_FIELDS, *extra) \
            .order_by("occurred_at")[:limit]
        entries.extend({"kind": kind, "at": row.occurred_at, "event": row} for row in rows)
    downloads = [e for e in entries if e["kind"] == "download"]
    if downloads:
        titles = dict(Document.objects.filter(
            public_id__in={e["event"].document_id for e in downloads}).values_list("public_id", "title"))
        for entry in downloads:
            entry["document"] = titles.get(entry["event"].document_id, "")
    # "sent" sorts first when an event carries the very same timestamp.
    order = {"sent": 0, "open": 1, "click": 2, "download": 3, "visit": 4}
    entries.sort(key=lambda e: (e["at"], order[e["kind"]]))
    return entries
