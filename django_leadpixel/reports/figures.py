"""Report figures: the partial of a selection of messages, merged and finalized.

The admin report page, its CSV export and the API's ``stats/`` endpoint all
call ``campaign.campaign_report``, which sums per-cell partials from
``rollup`` where they are current. A partial (:func:`partial`) comes from a handful of
aggregate queries whose number does not depend on how many rows there are:

1. messages grouped by sending day and their own flags, the counts of ``rates``
   (cohorts, the estimate of the people who opened, images blocked), which also
   say how many were sent; the report adds one more, live, for its recipient rule;
2.-5. opened and clicked messages, from each kind's events grouped per message;
6.-9. opens, then clicks, grouped by (day, source), and people's opens and
   clicks grouped by (country, device, OS, mail client): the daily chart,
   per-source totals, proxy shares and "top" lists are summed in Python;
10. clicks grouped by link.

Message-level semantics (who counts as a person) come from ``sources`` and
``models``: ``person_filter``, ``person_events`` and ``Status`` are not redefined
here.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, Least, TruncDate
from django.utils import timezone

from ..models import KINDS, Click, Message, Open, person_events, person_filter
from ..sources import PROXY_SOURCES, SOURCES
from . import rates

SOURCE_KEYS = tuple(key for key, _label in SOURCES)
TOP_N = 10
TOP_LINKS = 50


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# The calendar the app works in. Dates that callers give (report filters, a message's
# sending time through the API) must fall within it: Python's dates end at 9999-12-31,
# where "the next day" overflows, and time zone arithmetic fails near both ends.
FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(9000, 12, 31)


def day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def next_day_start(day: datetime.date) -> datetime.datetime | None:
    """The start of the day after ``day``; None after the last day Python has."""
    if day >= datetime.date.max:
        return None
    return day_start(day + datetime.timedelta(days=1))


def local_day(field: str) -> TruncDate:
    """``TruncDate(field)`` in the current time zone, for any stored moment.

    A moment near either end of the calendar can fall on a day Python has no date
    for (9999-12-31T12:00Z is year 10000 at UTC+14, 0001-01-01T05:00Z year 0 at
    UTC-11), and reading that date back fails. Such moments count on the first
    or the last day Python has, as :func:`select_messages` selects them.
    """
    first = (day_start(datetime.date.min + datetime.timedelta(days=1))
             - datetime.timedelta(microseconds=1))
    last = day_start(datetime.date.max)
    return TruncDate(Greatest(Least(field, Value(last)), Value(first)))


def select_messages(*, campaign: str | None = None, start: datetime.date | None = None,
                    end: datetime.date | None = None) -> QuerySet:
    """Messages sent on a day in [start, end] (current time zone) of ``campaign``.

    A half-open datetime range instead of ``sent_at__date``: casting the
    column to a date would keep PostgreSQL from using the ``sent_at`` indexes.
    """
    messages = Message.objects.order_by()
    if campaign is not None:
        messages = messages.filter(campaign=campaign)
    # The first and the last day Python has also hold what lies beyond (local_day).
    if start is not None and start > datetime.date.min:
        messages = messages.filter(sent_at__gte=day_start(start))
    if end is not None and end < datetime.date.max:
        messages = messages.filter(sent_at__lt=next_day_start(end))
    return messages


def _events(model, messages: QuerySet, filtered: bool) -> QuerySet:
    events = model.objects.order_by()
    # Unfiltered reports skip the semi-join: every event belongs to some message.
    return events.filter(message__in=messages.values("pk")) if filtered else events


def _message_figures(messages: QuerySet, filtered: bool) -> dict[str, int]:
    """Opened and clicked messages, by the rule ``MessageQuerySet.with_status`` uses: a
    person's event of any kind proves the message was opened (``models.person_events``).

    One query per kind of event, each one pass: the kind's events grouped per message
    (served by index-only scans of ``(message, source)``). A message counts at the first
    kind, in ``KINDS`` order, it has an event of (and a person's event of): for a later
    kind, one index probe per message of that kind asks whether an earlier kind counted
    it already (clicks, downloads and visits are the smaller tables by far). Asking "is
    this message in the set of opened messages?" per message instead (EXISTS, or
    ``IN (subquery)``) costs a probe per message, and PostgreSQL stops hashing an ``IN``
    list once it outgrows ``work_mem``: at a million events that turned into a nested
    scan that ran for minutes.
    """
    per_kind: dict[str, dict[str, int]] = {}
    for kind, model in KINDS.items():
        earlier = list(per_kind)
        person = Case(When(person_filter(kind), then=1), default=0)
        probes: dict[str, Exists] = {}
        for before in earlier:
            probes[f"any_{before}"] = Exists(
                KINDS[before].objects.filter(message_id=OuterRef("message_id")))
            probes[f"person_{before}"] = Exists(
                person_events(before).filter(message_id=OuterRef("message_id")))
        rows = _events(model, messages, filtered).values("message_id").annotate(
            person=Max(person), **probes)
        first = Q(**{f"any_{before}": False for before in earlier}) if earlier else None
        person_first = Q(person=1, **{f"person_{before}": False for before in earlier})
        per_kind[kind] = rows.aggregate(
            total=Count("message_id"), people=Count("message_id", filter=Q(person=1)),
            first=Count("message_id", filter=first),
            person_first=Count("message_id", filter=person_first))
    return {
        "opened_by_person": sum(figures["person_first"] for figures in per_kind.values()),
        "opened_any": sum(figures["first"] for figures in per_kind.values()),
        "clicked_by_person": per_kind["click"]["people"],
        "clicked_any": per_kind["click"]["total"],
    }


PEOPLE_FIELDS = ("country", "device_type", "os", "mail_client")
# The version of the message-level rules a partial follows (kept in rollup cells, which
# are rebuilt when it changes). 2: a person's download or visit is a person acting on a
# link, as a click is (``models.ACTED_ON_LINK``).
RULES = 2
FIGURES = ("sent", "opened_by_person", "opened_any", "clicked_by_person", "clicked_any")


def _by_day_and_source(events: QuerySet) -> list[dict[str, Any]]:
    return list(
        events.annotate(day=local_day("occurred_at"))
        .values("day", "source")
        .annotate(n=Count("pk"))
        .order_by()
    )


def _people_groups(events: QuerySet) -> list[dict[str, Any]]:
    # Kept apart from the daily grouping on purpose: one grouping by day, source
    # and the four people fields makes PostgreSQL expect ~100,000s of groups and
    # sort (spilling to disk) instead of hashing the few thousand there are;
    # two hashed passes took less than half the time at a million events.
    return list(
        events.filter(source="human")
        .values(*PEOPLE_FIELDS)
        .annotate(n=Count("pk"))
        .order_by()
    )


def _top(counter: Counter, n: int = TOP_N) -> list[tuple[Any, int]]:
    # Ties broken by key so the order is stable across databases.
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _add(into: dict[str, Any], key: str, n: int) -> None:
    into[key] = into.get(key, 0) + n


def partial(messages: QuerySet, *, filtered: bool = True,
            top_links: int | None = None) -> dict[str, Any]:
    """The additive figures of ``messages``: counts, and counters keyed by strings.

    Additive: the partial of disjoint sets of messages is the sum of their
    partials (:func:`merge`), which is what lets ``rollup`` keep one per
    campaign and sending day; flat string-keyed counters keep thousands of
    them quick to load. Keys: ``daily`` "day|kind|source", ``devices``
    "device type|OS", ``links`` "position|url" (to [clicks, by people]).
    :func:`finalize` turns a partial into the report. ``top_links`` keeps
    only the most clicked links (exact only for a whole selection).
    """
    opens = _events(Open, messages, filtered)
    clicks = _events(Click, messages, filtered)
    # Messages per (sending day, own flags): the cohorts and the images-blocked figures;
    # every message is in one group, so they also say how many were sent.
    flags = rates.flag_counts(messages, local_day("sent_at"))
    out: dict[str, Any] = {"sent": sum(flags.values()), **_message_figures(messages, filtered)}
    daily: dict[str, int] = {}
    countries: dict[str, int] = {}
    devices: dict[str, int] = {}
    mail_clients: dict[str, int] = {}
    for kind, events in (("opens", opens), ("clicks", clicks)):
        for row in _by_day_and_source(events):
            _add(daily, f"{row['day'].isoformat()}|{kind}|{row['source']}", row["n"])
        for row in _people_groups(events):
            if row["country"]:
                _add(countries, row["country"], row["n"])
            if row["device_type"] or row["os"]:
                _add(devices, f"{row['device_type']}|{row['os']}", row["n"])
            if row["mail_client"]:
                _add(mail_clients, row["mail_client"], row["n"])
    links = (clicks.values("url", "position")
             .annotate(clicks=Count("pk"), human_clicks=Count("pk", filter=Q(source="human")))
             .order_by("-clicks", "position", "url"))
    if top_links is not None:
        links = links[:top_links]
    out.update(daily=daily, countries=countries, devices=devices, mail_clients=mail_clients,
               links={f"{r['position']}|{r['url']}": [r["clicks"], r["human_clicks"]]
                      for r in links})
    out["message_flags"] = flags
    out["rules"] = RULES
    return out


COUNTERS = ("daily", "countries", "devices", "mail_clients", "message_flags")


def merge(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """One partial for the union of the (disjoint) message sets of ``partials``."""
    out: dict[str, Any] = {**dict.fromkeys(FIGURES, 0), **{key: Counter() for key in COUNTERS},
                           "links": {}}
    for part in partials:
        for key in FIGURES:
            out[key] += part[key]
        for key in COUNTERS:
            out[key].update(part[key])
        links = out["links"]
        for key, (n, human) in part["links"].items():
            figures = links.get(key)
            links[key] = [n, human] if figures is None else [figures[0] + n, figures[1] + human]
    return out


def live_partial(*, campaign: str | None = None, start: datetime.date | None = None,
                 end: datetime.date | None = None) -> dict[str, Any]:
    """:func:`partial` of the selection, computed from the event tables."""
    messages = select_messages(campaign=campaign, start=start, end=end)
    filtered = campaign is not None or start is not None or end is not None
    out = partial(messages, filtered=filtered, top_links=TOP_LINKS)
    out["recipient_hidden"] = rates.recipient_hidden(messages, local_day("sent_at"))
    return out


def finalize(part: dict[str, Any], *, campaign: str | None = None,
             start: datetime.date | None = None, end: datetime.date | None = None) -> dict:
    """The report (rates, per-source totals, daily series, top lists) of a partial."""
    opens_by_source = dict.fromkeys(SOURCE_KEYS, 0)
    clicks_by_source = dict.fromkeys(SOURCE_KEYS, 0)
    totals = {"opens": opens_by_source, "clicks": clicks_by_source}
    daily: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {"opens": dict.fromkeys(SOURCE_KEYS, 0), "clicks": dict.fromkeys(SOURCE_KEYS, 0)}
    )
    for key, n in part["daily"].items():
        day, kind, source = key.split("|")
        source = source if source in opens_by_source else "unknown"
        totals[kind][source] += n
        daily[day][kind][source] += n
    countries = Counter(part["countries"])
    devices = Counter({tuple(key.split("|", 1)): n for key, n in part["devices"].items()})
    mail_clients = Counter(part["mail_clients"])
    links = [((int(position), url), figures) for position, url, figures
             in ((*key.split("|", 1), figures) for key, figures in part["links"].items())]
    top_links = sorted(links, key=lambda kv: (-kv[1][0], kv[0]))[:TOP_LINKS]

    all_opens = sum(opens_by_source.values())
    sent = part["sent"]
    return {
        "filters": {
            "campaign": campaign,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
        **{key: part[key] for key in FIGURES},
        "open_rate_people": _rate(part["opened_by_person"], sent),
        "open_rate_all": _rate(part["opened_any"], sent),
        "click_rate": _rate(part["clicked_by_person"], sent),
        "click_to_open": _rate(part["clicked_by_person"], part["opened_by_person"]),
        "opens_by_source": opens_by_source,
        "clicks_by_source": clicks_by_source,
        "daily": [{"date": day, **daily[day]} for day in sorted(daily)],
        "proxy_share": {source: _rate(opens_by_source[source], all_opens)
                        for source in PROXY_SOURCES},
        "top_countries": [{"country": c, "events": n} for c, n in _top(countries)],
        "top_devices": [{"device_type": d, "os": o, "events": n}
                        for (d, o), n in _top(devices)],
        "top_mail_clients": [{"mail_client": m, "events": n} for m, n in _top(mail_clients)],
        "links": [{"url": url, "position": position, "clicks": n, "human_clicks": human}
                  for (position, url), (n, human) in top_links],
        # Cohorts, the estimate of the people who opened and images blocked (``rates``).
        **rates.report_figures(part["message_flags"], part.get("recipient_hidden")),
    }


# --- one message ----------------------------------------------------------------------------

