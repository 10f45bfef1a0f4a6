"""CSV exports of the report and its events, that a spreadsheet cannot turn into formulas.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is run as a formula by Excel, LibreOffice and Google Sheets (OWASP "CSV
Injection"). Recipients, subjects, URLs and reasons are untrusted text, so such
cells get a leading ``'``, which the spreadsheets read as "this is text".
Numbers are written as they are: a negative number is data, not a formula.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from ..models import KINDS
from ..sources import SOURCES
from .figures import select_messages

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "" if value is None else value
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line: csv.writer into a generator."""

    def write(self, value: str) -> str:
        return value


def iter_csv(rows: Iterable[Iterable[Any]]) -> Iterable[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> StreamingHttpResponse:
    """Stream ``rows`` as a CSV download (memory stays flat on millions of events)."""
    response = StreamingHttpResponse(iter_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def figures_rows(report: dict) -> Iterator[list[Any]]:
    """The report as (section, key, value) rows, for the CSV export."""
    labels = dict(SOURCES)
    yield ["section", "key", "value"]
    filters = report["filters"]
    for key in ("campaign", "start", "end"):
        yield ["filter", key, filters[key] or ""]
    for key in ("sent", "opened_by_person", "opened_any", "clicked_by_person", "clicked_any",
                "open_rate_people", "open_rate_all", "click_rate", "click_to_open"):
        yield ["summary", key, report[key]]
    for source, n in report["opens_by_source"].items():
        yield ["opens_by_source", labels.get(source, source), n]
    for source, n in report["clicks_by_source"].items():
        yield ["clicks_by_source", labels.get(source, source), n]
    for source, share in report["proxy_share"].items():
        yield ["proxy_share", labels.get(source, source), share]
    for day in report["daily"]:
        for kind in ("opens", "clicks"):
            for source, n in day[kind].items():
                if n:
                    yield [f"daily_{kind}", f"{day['date']} {labels.get(source, source)}", n]
    for row in report["top_countries"]:
        yield ["top_countries", row["country"], row["events"]]
    for row in report["top_devices"]:
        yield ["top_devices", " / ".join(x for x in (row["device_type"], row["os"]) if x),
               row["events"]]
    for row in report["top_mail_clients"]:
        yield ["top_mail_clients", row["mail_client"], row["events"]]
    for row in report["links"]:
        yield ["link_clicks", f"{row['position']} {row['url']}", row["clicks"]]
        yield ["link_human_clicks", f"{row['position']} {row['url']}", row["human_clicks"]]
    yield from rates_rows(report)


def rates_rows(report: dict) -> Iterator[list[Any]]:
    """The estimate of the people who opened, images blocked and the cohorts (``rates``)."""
    estimate = report["opened_by_people_estimate"]
    for key in ("value", "low", "high", "method"):
        yield ["opened_by_people_estimate", key,
               report["opened_by_people_estimate_reason"] if estimate is None else estimate[key]]
    blocked = report["images_blocked"]
    for key in ("count", "rate", "of_person_clicks"):
        yield ["images_blocked", key, "" if blocked is None else blocked[key]]
    for day in report["images_blocked_daily"]:
        yield ["images_blocked_daily", day["date"], day["count"]]
    for row in report["images_blocked_by_campaign"]:
        yield ["images_blocked_by_campaign", row["campaign"], row["count"]]
    for row in report["cohorts"]:
        for key in ("sent", "seen_opens", "person_clicks", "estimated_opens"):
            yield [f"cohort_{key}", row["label"], "" if row[key] is None else row[key]]


# The columns every event fills.
SHARED_COLUMNS = ("kind", "occurred_at", "message", "recipient", "campaign", "source", "reason",
                  "operator", "masked", "country", "region", "city", "device_type", "os",
                  "browser", "mail_client")
_SHARED_FIELDS = ("occurred_at", "message__public_id", "message__recipient", "message__campaign",
                  "source", "reason", "operator", "masked", "country", "region", "city",
                  "device_type", "os", "browser", "mail_client")
# Each kind's own columns, as {column: field of its model}; the other kinds leave them
# blank. Clicks first: theirs were the only ones once, right after the shared columns.
KIND_COLUMNS: dict[str, dict[str, str]] = {
    "click": {"url": "url", "position": "position"},
    "open": {"image": "image"},
    "download": {"document": "document_id", "document_title": "document__title"},
    "visit": {"path": "path", "referrer_host": "referrer_host", "click_id": "click_id"},
}
_OWN_COLUMNS = tuple(column for columns in KIND_COLUMNS.values() for column in columns)
EVENT_COLUMNS = (*SHARED_COLUMNS, *_OWN_COLUMNS)


def event_rows(*, campaign: str | None = None, start: datetime.date | None = None,
               end: datetime.date | None = None, chunk_size: int = 2000) -> Iterator[list[Any]]:
    """Every event of every kind (``KINDS``) of the selected messages, streamed in
    chunks: all opens, then clicks, downloads and visits, each kind in time order.

    ``iterator()`` keeps memory flat on millions of rows. Neither IP address
    nor user agent is exported: the report does not need personal data. A
    download's document title is blank once the document is deleted.
    """
    messages = select_messages(campaign=campaign, start=start, end=end)
    yield list(EVENT_COLUMNS)
    for kind, model in KINDS.items():
        own = KIND_COLUMNS[kind]
        rows = (model.objects.filter(message__in=messages.values("pk"))
                .order_by("occurred_at").values_list(*_SHARED_FIELDS, *own.values()))
        for row in rows.iterator(chunk_size=chunk_size):
            values = dict(zip(own, row[len(_SHARED_FIELDS):], strict=True))
            yield [kind, row[0].isoformat(), *row[1:len(_SHARED_FIELDS)],
                   *(values.get(column, "") for column in _OWN_COLUMNS)]
