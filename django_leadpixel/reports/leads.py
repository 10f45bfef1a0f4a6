"""The lead: one recipient address across all its messages.

The figures of every lead come from one database view, ``leadpixel_lead``
(the unmanaged model ``models.Lead``), so the admin's list and the API sort,
filter and page them in the database. The view is made from ``models.KINDS``
(one count per kind of event), and ``install_view`` makes it again after each
``migrate`` (``apps.ready`` connects it), so a new kind of event gets its
count without a hand-written migration of the view.

On PostgreSQL it is a MATERIALIZED view, indexed by address, score and last
seen: aggregating every event on each page of the list took seconds at a
million events, reading the materialized rows takes milliseconds. ``refresh``
(the ``leadpixel-leads`` beat task, every five minutes, and after each
``migrate``) brings it up to date, concurrently (readers are never blocked).
So the list is as of the last refresh; the lead page (``lead_detail``) is
always live. On SQLite it is a plain view: always live.

Per lead, counting a person's events only (``models.person_sources``: an open
from a reader's own device, or through the Gmail and Yahoo proxies that stand
for one; a click, download or visit from the person's own browser; never
Apple's prefetch, scanners or bots):

- ``messages`` sent to the address, ``opened``: those opened by a person (a
  person's event of any kind proves it, as for the message status);
- ``opens``, ``clicks``, ``visits`` (and any other kind's count);
- ``first_seen`` and ``last_seen``: the first and last event of a person;
- ``score``, the engagement score::

      points = 1 × opens + 3 × clicks + 2 × visits  (+ 3 × downloads; models.LEAD_WEIGHTS)
      score  = points / (1 + days since last_seen / 30), rounded to 0.1

  Counts say how much the person engaged, the divisor how recently: the
  same points are worth half after a month, a third after two. A lead
  that only machines touched scores 0.

The lead page (``lead_detail``) reads the one lead's messages by the
``lower(recipient)`` index and its events by ``(message, occurred_at)``: a
fixed number of queries whatever the number of messages and events.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connections
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from ..models import KINDS, LEAD_WEIGHTS, Lead, Message, person_events, person_sources
from .timeline import timeline_rows

__all__ = ["LEAD_TIMELINE_LIMIT", "RECENCY_DAYS", "after_migrate", "before_migrate", "drop_view",
           "install_view", "materialized", "refresh", "score_of", "summary", "lead_detail", "leads",
           "normalise", "view_sql"]

VIEW = Lead._meta.db_table
RECENCY_DAYS = 30
LEAD_TIMELINE_LIMIT = 200
# What the API's lead timeline gives of an event of each kind, besides the common fields.
SHOWN_FIELDS = {"open": ("image",), "click": ("url",), "visit": ("path", "referrer_host")}
PLACE_FIELDS = ("country", "region", "city")
DEVICE_FIELDS = ("device_type", "os", "browser", "mail_client")


def normalise(email: str) -> str:
    """The lead's key: the address trimmed and lowercased."""
    return (email or "").strip().lower()


def view_sql(conn) -> str:
    """``SELECT`` of the lead view for a connection (PostgreSQL or SQLite)."""
    quote, vendor = conn.ops.quote_name, conn.vendor
    def person(kind: str) -> str:
        return ", ".join(f"'{source}'" for source in person_sources(kind))

    events = " UNION ALL ".join(
        f"SELECT message_id, '{kind}' AS kind, occurred_at FROM {quote(model._meta.db_table)} "
        f"WHERE source IN ({person(kind)})"
        for kind, model in KINDS.items())
    per_kind = ", ".join(f"SUM(CASE WHEN kind = '{kind}' THEN 1 ELSE 0 END) AS {kind}s"
                         for kind in KINDS)
    totals = ", ".join(f"COALESCE(SUM(e.{kind}s), 0) AS {kind}s" for kind in KINDS)
    points = " + ".join(f"{LEAD_WEIGHTS.get(kind, 1)} * COALESCE(SUM(e.{kind}s), 0)" for kind in KINDS)
    if vendor == "postgresql":
        days = "EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - MAX(e.last_at))) / 86400.0"
    else:
        days = "(julianday('now') - julianday(MAX(e.last_at)))"
    score = (f"CASE WHEN MAX(e.last_at) IS NULL THEN 0.0 ELSE CAST(ROUND(CAST(({points}) / "
             f"(1.0 + (CASE WHEN {days} > 0 THEN {days} ELSE 0 END) / {RECENCY_DAYS}.0) "
             f"AS numeric), 1) AS double precision) END")
    if vendor != "postgresql":
        score = score.replace("AS numeric", "AS real").replace("AS double precision", "AS real")
    message = quote(Message._meta.db_table)
    return (
        f"SELECT LOWER(m.recipient) AS email, COUNT(*) AS messages, "
        f"SUM(CASE WHEN e.events > 0 THEN 1 ELSE 0 END) AS opened, {totals}, "
        f"MIN(e.first_at) AS first_seen, MAX(e.last_at) AS last_seen, "
        f"MAX(m.sent_at) AS last_sent, {score} AS score "
        f"FROM {message} m LEFT JOIN (SELECT message_id, {per_kind}, COUNT(*) AS events, "
        f"MIN(occurred_at) AS first_at, "
        f"MAX(occurred_at) AS last_at FROM ({events}) ev GROUP BY message_id) e "
        f"ON e.message_id = m.id GROUP BY LOWER(m.recipient)"
    )


def install_view(using: str = "default") -> bool:
    """(Re)create the lead view from ``KINDS``. False when an event table is missing
    (a migration half-way back): the view waits for the tables."""
    conn = connections[using]
    tables = set(conn.introspection.table_names())
    needed = {Message._meta.db_table, *(model._meta.db_table for model in KINDS.values())}
    if not needed <= tables:
        return False
    drop_view(using)
    quote = conn.ops.quote_name
    with conn.cursor() as cursor:
        if not materialized(conn):
            cursor.execute(f"CREATE VIEW {quote(VIEW)} AS {view_sql(conn)}")
            return True
        cursor.execute(f"CREATE MATERIALIZED VIEW {quote(VIEW)} AS {view_sql(conn)}")
        # The unique index lets REFRESH ... CONCURRENTLY leave readers alone.
        for name, columns, unique in (("email", "email", "UNIQUE "),
                                      ("score", "score DESC, email", ""),
                                      ("last_seen", "last_seen, email", ""),
                                      ("last_sent", "last_sent, email", "")):
            cursor.execute(f"CREATE {unique}INDEX {quote(f'{VIEW}_{name}')} ON {quote(VIEW)} ({columns})")
    return True


def materialized(conn) -> bool:
    return conn.vendor == "postgresql"


def drop_view(using: str = "default") -> None:
    conn = connections[using]
    with conn.cursor() as cursor:
        kind = "VIEW"
        if materialized(conn):
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s "
                           "AND relnamespace = current_schema()::regnamespace", [VIEW])
            row = cursor.fetchone()
            if row is None:
                return
            kind = "MATERIALIZED VIEW" if row[0] == "m" else "VIEW"
        cursor.execute(f"DROP {kind} IF EXISTS {conn.ops.quote_name(VIEW)}")


def refresh(using: str = "default") -> bool:
    """Bring the lead list up to date (PostgreSQL; a plain view always is). False when
    there is no view to refresh (the tables are not migrated)."""
    conn = connections[using]
    if not materialized(conn):
        return True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_matviews WHERE matviewname = %s", [VIEW])
        if cursor.fetchone() is None:
            return False
        cursor.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {conn.ops.quote_name(VIEW)}")
    return True


def before_migrate(sender, *, using: str = "default", **kwargs) -> None:
    """Receiver of ``pre_migrate`` (``apps.ready``): the view goes before migrations run."""
    drop_view(using)


def after_migrate(sender, *, using: str = "default", **kwargs) -> None:
    """Receiver of ``post_migrate`` (``apps.ready``): the view comes back from ``KINDS``."""
    install_view(using)


def leads(*, search: str = "", campaign: str = "", engaged: bool | None = None) -> QuerySet:
    """Leads, filtered: an address containing ``search``; one with a message of
    ``campaign``; ``engaged`` True for leads a person engaged with (an event of a
    person), False for the others."""
    queryset = Lead.objects.all()
    if search:
        queryset = queryset.filter(email__contains=normalise(search))
    if campaign:
        queryset = queryset.filter(email__in=Message.objects.filter(campaign=campaign)
                                   .annotate(email=Lower("recipient")).values("email"))
    if engaged is not None:
        queryset = queryset.filter(last_seen__isnull=not engaged)
    return queryset


def score_of(points: int, last_seen: datetime | None, now: datetime | None = None) -> float:
    """The engagement score, as the view computes it (see the module's docstring)."""
    if last_seen is None:
        return 0.0
    days = max(((now or timezone.now()) - last_seen).total_seconds() / 86400, 0.0)
    value = Decimal(points) / (1 + Decimal(days) / RECENCY_DAYS)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def summary(email: str, messages: list[Message]) -> Lead:
    """The figures of one lead, live, as an unsaved ``Lead``: one indexed query per kind
    of event over its messages (``(message, source)``)."""
    ids = [message.pk for message in messages]
    counts: dict[str, int] = {}
    times: list[datetime] = []
    opened: set[int] = set()
    for kind in KINDS:
        rows = list(person_events(kind).filter(message_id__in=ids).order_by()
                    .values("message_id").annotate(n=Count("id"), first=Min("occurred_at"),
                                                   last=Max("occurred_at")))
        counts[kind] = sum(row["n"] for row in rows)
        times += [t for row in rows for t in (row["first"], row["last"])]
        opened.update(row["message_id"] for row in rows)
    last_seen = max(times) if times else None
    points = sum(LEAD_WEIGHTS.get(kind, 1) * n for kind, n in counts.items())
    return Lead(email=email, messages=len(messages), opened=len(opened),
                first_seen=min(times) if times else None, last_seen=last_seen,
                last_sent=max(message.sent_at for message in messages),
                score=score_of(points, last_seen),
                **{f"{kind}s": n for kind, n in counts.items()})


def lead_detail(email: str, limit: int = LEAD_TIMELINE_LIMIT) -> dict[str, Any] | None:
    """Everything about one lead (None when no message went to ``email``).

    ``lead``: the view's row; ``messages``: its messages, newest first; ``places``
    and ``devices``: what a person's own events showed (``source`` "human",
    not masked; never a proxy's), most seen first, with counts; ``timeline``:
    sent messages and every event (``timeline.timeline_rows``: a download with
    its document's title), newest first, at most ``limit`` events of each kind.
    ``lead`` is computed live (``summary``), not read from the list's view. A
    fixed number of queries: 1 + 4 per kind of event.
    """
    key = normalise(email)
    messages = list(Message.objects.annotate(email=Lower("recipient")).filter(email=key)
                    .order_by("-sent_at").only("pk", "public_id", "recipient", "subject",
                                               "campaign", "sent_at", "tracking_consent"))
    if not messages:
        return None
    ids = [message.pk for message in messages]
    lead = summary(key, messages)
    by_pk = {message.pk: message for message in messages}
    timeline: list[dict[str, Any]] = [
        {"kind": "sent", "at": message.sent_at, "message": message, "event": None}
        for message in messages]
    places: Counter[tuple[str, ...]] = Counter()
    devices: Counter[tuple[str, ...]] = Counter()
    own = Q(message_id__in=ids, source="human", masked=False, enriched_at__isnull=False)
    for kind, model in KINDS.items():
        rows = timeline_rows(kind, model.objects.filter(message_id__in=ids)) \
            .order_by("-occurred_at")[:limit]
        timeline.extend({"kind": kind, "at": row.occurred_at, "message": by_pk[row.message_id],
                         "event": row} for row in rows)
        for row in model.objects.filter(own).exclude(country="").order_by() \
                .values_list(*PLACE_FIELDS).annotate(n=Count("id")):
            places[tuple(row[:-1])] += row[-1]
        for row in model.objects.filter(own).exclude(device_type="").order_by() \
                .values_list(*DEVICE_FIELDS).annotate(n=Count("id")):
            devices[tuple(row[:-1])] += row[-1]
    timeline.sort(key=lambda entry: entry["at"], reverse=True)
    return {
        "email": key,
        "lead": lead,
        "messages": messages,
        "places": [dict(zip(PLACE_FIELDS, place, strict=True), count=n)
                   for place, n in places.most_common()],
        "devices": [dict(zip(DEVICE_FIELDS, device, strict=True), count=n)
                    for device, n in devices.most_common()],
        "timeline": timeline,
    }


