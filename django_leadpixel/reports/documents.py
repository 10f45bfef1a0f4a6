"""Reports on tracked images and tracked documents.

``opens_by_image``: which tracked images readers load (people and all).
``document_report``: downloads by people and by machines, per document, per
campaign and per day, with the top places and devices of people's downloads,
as the campaign report has them for opens. Live queries (a handful, whatever
the number of rows): downloads are far fewer than opens, so no rollup.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from ..models import Document, Download, Open
from ..sources import PERSON_SOURCES
from .figures import TOP_N, local_day, select_messages

__all__ = ["opens_by_image", "document_report"]

HUMAN = Q(source="human")


def opens_by_image(*, campaign: str | None = None, start: datetime.date | None = None,
                   end: datetime.date | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Tracked images of the selected messages, most loaded by people first:
    ``[{"image", "people", "all"}]`` (the pixel is not an image: not listed)."""
    messages = select_messages(campaign=campaign, start=start, end=end)
    rows = (Open.objects.order_by().filter(message__in=messages.values("pk")).exclude(image="")
            .values("image").annotate(people=Count("pk", filter=Q(source__in=PERSON_SOURCES)),
                                      all=Count("pk"))
            .order_by("-people", "-all", "image"))
    return list(rows[:limit])


def _top(rows: QuerySet, field: str) -> list[tuple[str, int]]:
    return [(row[field] or "", row["n"]) for row in
            rows.values(field).annotate(n=Count("pk")).order_by("-n", field)[:TOP_N]]


def document_report(*, document: Document | None = None, campaign: str | None = None,
                    start: datetime.date | None = None,
                    end: datetime.date | None = None) -> dict[str, Any]:
    """Downloads of the selected messages (by sending day and campaign, as the campaign
    report selects them), of one document or all. JSON-serialisable."""
    messages = select_messages(campaign=campaign, start=start, end=end)
    downloads = Download.objects.order_by().filter(message__in=messages.values("pk"))
    if document is not None:
        downloads = downloads.filter(document=document.public_id)
    split = {"people": Count("pk", filter=HUMAN), "machines": Count("pk", filter=~HUMAN)}
    totals = downloads.aggregate(**split, messages=Count("message_id", distinct=True),
                                 people_messages=Count("message_id", distinct=True, filter=HUMAN))
    titles = dict(Document.objects.values_list("public_id", "title"))
    people = downloads.filter(HUMAN)
    return {
        "document": str(document.public_id) if document else None,
        "campaign": campaign,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "downloads_by_people": totals["people"],
        "downloads_by_machines": totals["machines"],
        "messages_downloaded": totals["messages"],
        "messages_downloaded_by_people": totals["people_messages"],
        "by_document": [
            {"document": str(row["document"]) if row["document"] else None,
             "title": titles.get(row["document"], ""), "people": row["people"],
             "machines": row["machines"]}
            for row in downloads.values("document").annotate(**split).order_by("-people", "document")
        ],
        "by_campaign": [
            {"campaign": row["message__campaign"], "people": row["people"],
             "machines": row["machines"]}
            for row in downloads.values("message__campaign").annotate(**split)
            .order_by("message__campaign")
        ],
        "daily": [
            {"day": row["day"].isoformat(), "people": row["people"], "machines": row["machines"]}
            for row in downloads.annotate(day=local_day("occurred_at")).values("day")
            .annotate(**split).order_by("day")
        ],
        "top_countries": _top(people, "country"),
        "top_devices": _top(people, "device_type"),
        "top_os": _top(people, "os"),
        "top_browsers": _top(people, "browser"),
    }
