"""What a message's other events say about one click: the one place that judges it.

``classify`` judges a hit from its own request. A click's verdict also depends
on its message's history, which the request cannot see: other links clicked
within a second (a link scanner's burst), the time since sending, whether a
person opened the message before, whether anything was opened from the
click's network. This module owns those facts and the rules on them, and
every path calls it: the request path settles a click when it is enriched
(``jobs``), the Redis drain and the spool replay before they insert
(``ingest.bulk.store_many``), and ``leadpixel_reclassify`` over each message's whole
history. The same facts give the same verdict whichever path a hit took.

A download of a tracked document (``Download``) is a click on the document's
link: scanners fetch files as they fetch pages, at delivery time and in the
same burst, so every rule here judges clicks and downloads together
(``LINK_MODELS``), and a document counts as one more destination of the message.

The rules, strongest first (docs/proxy-facts.md has the sources):

1. **A burst.** Clicks on at least ``BURST_MIN_OTHERS + 1`` different
   destinations of one message within ``BURST_WINDOW``: a gateway fetching
   every link. Destinations are compared (a URL, or a document), not link
   positions, so links made with ``tracked_url()`` (no position) count as
   well; a person double-clicking one link is no burst.
2. **A machine at delivery time.** A click within ``DELIVERY_WINDOW`` of
   sending, before any open by a person, is a machine when a second fact
   points at one: a mail-security vendor's network (a shipped range or
   ASN), a hosting or cloud network (ASN), a browser no supported system
   still runs, or another link of the message clicked within the second. A
   vendor's network counts only where nothing was opened from it (browser
   isolation sends a person's opens and clicks from there). Timing alone
   never decides: people read phone notifications within a minute.

And, once enrichment knows the click's network: a browser click from a
mail-security vendor's ASN is ``unknown`` (its sandbox, or a person behind its
browser isolation), as ``classify`` says of the vendors' shipped ranges.

A visit on the sender's site (``Visit``) follows the click whose id it carries:
scanners follow the redirect and load the page, so a visit after a scanner's
(or a bot's) click is a scanner's visit (``settle_visits``), and visits that
follow a click convicted later are convicted with it.

Anything else keeps the request's verdict. Only clicks a person could have
made (``human``, ``unknown``) are judged again (and an HTTP library's, which
a burst names a scanner), so history never turns a machine into a person;
``reclassify`` starts each message afresh from the stored requests.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import addresses, enrichment, ranges
from .classify import Verdict, classify
from .conf import app_settings
from .models import (
    CLASSIFIED_AS,
    PERSON_SOURCES,
    SCANNER_CLICK_SOURCES,
    Click,
    Download,
    Message,
    Open,
    Visit,
)

# Clicks on different links of one message closer together than this are a
# burst: a person does not click several links of one email within a second.
BURST_WINDOW = timedelta(seconds=1)
# A click with this many OTHER destinations clicked within the window is part
# of a burst (three links in a second: Marketo's "more than two activities in
# under a second", Trend Micro's "more than 3 clicks in 3 s").
BURST_MIN_OTHERS = 2
# Link scanners fetch within minutes of delivery: craft-campaign#546 saw bursts
# a median 43 s after sending, 94% within 5 minutes. Never decisive alone.
DELIVERY_WINDOW = timedelta(minutes=3)
# The oldest major versions any supported system still runs (PROXY_FACTS §10:
# Chrome 109 is the last for Windows 7/8.1, Firefox ESR 115 for Windows 7 and
# macOS 10.12-10.14). Older ones are what scanners send (gophish#973: Chrome/57;
# gophish#2446: Chrome 79, 80, 96), not what people browse with.
OLDEST_SUPPORTED = {"Chrome": 109, "Edg": 109, "Firefox": 115}
# Sources history can still change: a person's or unknown click into a machine's,
# an HTTP library's into a scanner's when it is part of a burst.
UNSETTLED = ("human", "unknown", "bot")
# The events these rules judge: a click on a link, and a download of a document
# (a click on the document's link). Their kinds, as hits and tokens name them.
LINK_MODELS = (Click, Download)
LINK_KINDS = frozenset(model._meta.model_name for model in LINK_MODELS)

BURST_REASON = "{n} links of the message clicked within a second"
# The reasons this module gives: a click it called a scanner on partial history
# is judged again, from its request, when more of the history arrives.
_OWN_REASON = re.compile(r"\d+ links of the message clicked within a second$"
                         r"|(Click|Download) -?\d+ s after sending, before any open by a person: ")

_VERSION = re.compile(r"\b(Chrome|Edg|Firefox)/(\d{1,4})\.")
_OLD_ENGINE = re.compile(r"MSIE \d|Trident/|Edge/1[2-8]\.")


@dataclass(frozen=True)
class Context:
    """What the message's other events say about one click (all optional)."""

    seconds_since_sent: float | None = None
    burst: int = 0  # OTHER destinations of the message clicked within BURST_WINDOW
    person_opened_before: bool | None = None
    opened_from_network: bool | None = None
    asn: int | None = None  # the click's network, once GeoIP knows it


def stale_browser(user_agent: str) -> str:
    """``"Chrome 79"`` when the agent names a browser no supported system runs, else ""."""
    if not isinstance(user_agent, str):
        return ""
    head = user_agent[:1000]
    if _OLD_ENGINE.search(head):
        return "Internet Explorer or legacy Edge"
    for name, major in _VERSION.findall(head):
        if int(major) < OLDEST_SUPPORTED[name]:
            return f"{'Edge' if name == 'Edg' else name} {major}"
    return ""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def with_context(base: Verdict, *, ip: str | None, user_agent: str, kind: str,
                 context: Context, table: ranges.RangeTable | None = None) -> Verdict:
    """``base`` (the request's verdict) judged again with the message's history."""
    if kind not in LINK_KINDS or base.source not in UNSETTLED:
        return base
    burst = context.burst if isinstance(context.burst, int) and not isinstance(
        context.burst, bool) else 0
    if burst >= BURST_MIN_OTHERS:  # an HTTP library in a burst is a scanner too
        return Verdict("scanner", BURST_REASON.format(n=burst + 1), base.operator)
    if base.source == "bot":
        return base
    owner = ranges.default_asn_table().lookup(context.asn)
    vendor_asn = owner if owner is not None and owner.kind == "scanner" else None
    if vendor_asn is not None and base.source == "human":
        # As classify does for a vendor's shipped ranges; the ASN is known only now.
        base = Verdict("unknown", f"Browser click from {vendor_asn.operator}'s network "
                       f"({vendor_asn.network}): a scanner's sandbox or a person behind "
                       "browser isolation", vendor_asn.operator)
    seconds = _finite(context.seconds_since_sent)
    if seconds is None or not 0 <= seconds <= DELIVERY_WINDOW.total_seconds():
        return base
    if context.person_opened_before:
        return base  # a person had opened it: timing proves nothing
    facts, vendor = _machine_facts(ip, user_agent, context, table, owner)
    if burst == 1:
        facts.append("another link of the message clicked within the second")
    # Without knowing whether a person opened it first, only a vendor's
    # network where nothing was opened speaks (the rule callers without
    # history had before this module); with history, any fact does.
    if not facts or (context.person_opened_before is None and not vendor):
        return base
    return Verdict("scanner", f"{kind.capitalize()} {seconds:.0f} s after sending, before any open by a "
                              f"person: {'; '.join(facts)}"[:255], vendor or base.operator)


def _machine_facts(ip, user_agent, context: Context, table, owner) -> tuple[list[str], str]:
    """What, besides timing, says a machine sent this click: the reasons, and the
    mail-security vendor whose network it came from ("" for none). ``owner`` is
    the ASN table's entry for the click's network."""
    facts: list[str] = []
    operator = ""
    net = (table or ranges.default_table()).lookup(ip) if ip else None
    # A vendor's network counts only where no person opened from it: a person
    # behind the vendor's browser isolation opens and clicks from there too.
    quiet = context.opened_from_network is False or context.person_opened_before is False
    if net is not None and net.kind == "scanner" and quiet:
        operator = net.operator
        facts.append(f"from {net.operator}'s mail-security network")
    if owner is not None and owner.kind == "scanner" and quiet:
        operator = operator or owner.operator
        facts.append(f"from {owner.operator}'s network ({owner.network})")
    elif owner is not None and owner.kind == "cloud":
        facts.append(f"from a cloud or hosting network ({owner.network}, {owner.operator})")
    old = stale_browser(user_agent)
    if old:
        facts.append(f"{old}, a browser no supported system still runs")
    return facts, operator


def judge(*, ip: str | None, user_agent: str, kind: str, method: str = "GET",
          purpose: str = "", honeypot: bool = False, table: ranges.RangeTable | None = None,
          seconds_since_sent: float | None = None, burst: int = 0,
          person_opened_before: bool | None = None, opened_from_network: bool | None = None,
          asn: int | None = None) -> Verdict:
    """The verdict of one hit from its request (``classify``) and its message's history.

    Pure: the caller gathers the facts (each optional, with a neutral default).
    ``burst`` counts OTHER destinations of the message clicked within
    ``BURST_WINDOW``; ``asn`` is the click's network as GeoIP knows it.
    """
    base = classify(ip=ip, user_agent=user_agent, kind=CLASSIFIED_AS.get(kind, kind), method=method,
                    purpose=purpose, honeypot=honeypot, ranges=table)
    context = Context(seconds_since_sent=seconds_since_sent, burst=burst,
                      person_opened_before=person_opened_before,
                      opened_from_network=opened_from_network,
                      asn=asn if isinstance(asn, int) and not isinstance(asn, bool) else None)
    return with_context(base, ip=ip, user_agent=user_agent, kind=kind, context=context,
                        table=table)


# --- facts over many clicks -------------------------------------------------------------


def kind_of(event: Any) -> str:
    """The kind of a click or download (stored or pending) as this module judges it."""
    return "download" if isinstance(event, Download) else "click"


def destination(event: Any) -> str:
    """What a click or download fetched: the URL, or the document (one destination
    of the message however many links point at it)."""
    return f"document:{event.document_id}" if isinstance(event, Download) else event.url


def burst_counts(clicks: Sequence[Any]) -> dict[Any, int]:
    """For each click or download (``pk``, ``message_id``, ``occurred_at``, and ``url``
    or ``document_id``; see ``destination``): how many OTHER destinations of its
    message were clicked within ``BURST_WINDOW`` of it, or, when
    it lies within the window of a burst, that burst's count.

    So the first and last clicks of a scanner's run of links, each with one
    neighbour inside its own window, belong to the burst in the middle. Linear
    per message (sliding windows), so a scanner that clicks one message's
    links thousands of times costs no more than it must.
    """
    by_message: dict[Any, list[Any]] = defaultdict(list)
    for click in clicks:
        by_message[click.message_id].append(click)
    counts: dict[Any, int] = {}
    for group in by_message.values():
        group.sort(key=lambda c: c.occurred_at)
        own = _own_counts(group)
        # The largest count within each click's window: a sliding-window maximum
        # (a deque of indices with falling counts), so this stays linear too.
        result = []
        window: deque[int] = deque()
        hi = 0
        for click, mine in zip(group, own, strict=True):
            while hi < len(group) and group[hi].occurred_at - click.occurred_at <= BURST_WINDOW:
                while window and own[window[-1]] <= own[hi]:
                    window.pop()
                window.append(hi)
                hi += 1
            while click.occurred_at - group[window[0]].occurred_at > BURST_WINDOW:
                window.popleft()
            near = own[window[0]]
            result.append(near if near >= BURST_MIN_OTHERS else mine)
        counts.update((click.pk, n) for click, n in zip(group, result, strict=True))
    return counts


def _own_counts(group: list[Any]) -> list[int]:
    """Other destinations within the window of each click of one message (time order)."""
    inside: Counter[str] = Counter()
    result = []
    lo = hi = 0
    for click in group:
        while hi < len(group) and group[hi].occurred_at - click.occurred_at <= BURST_WINDOW:
            inside[destination(group[hi])] += 1
            hi += 1
        while click.occurred_at - group[lo].occurred_at > BURST_WINDOW:
            gone = destination(group[lo])
            inside[gone] -= 1
            if not inside[gone]:
                del inside[gone]
            lo += 1
        result.append(len(inside) - 1)  # the click's own destination is inside
    return result


@dataclass
class _Seen:
    """One open, as the history of a click needs it."""

    message_id: Any
    occurred_at: datetime
    source: str
    ip: str | None


def contexts(clicks: Sequence[Any], opens: Iterable[Any], sent_at: dict[Any, datetime],
             asn_of=None) -> dict[Any, Context]:
    """The ``Context`` of each click, from its message's clicks and opens (pure).

    ``clicks`` are all the clicks that can matter (the ones to judge and their
    neighbours within ``BURST_WINDOW``); ``opens`` the messages' opens (``source``
    as stored or as judged again); ``asn_of(ip)`` the network's ASN.
    """
    bursts = burst_counts(clicks)
    by_message: dict[Any, list[Any]] = defaultdict(list)
    for row in opens:
        by_message[row.message_id].append(row)
    result = {}
    for click in clicks:
        seen = by_message.get(click.message_id, ())
        earlier = [row for row in seen if row.occurred_at <= click.occurred_at]
        network = addresses.network_of(click.ip)
        sent = sent_at.get(click.message_id)
        result[click.pk] = Context(
            seconds_since_sent=(click.occurred_at - sent).total_seconds() if sent else None,
            burst=bursts.get(click.pk, 0),
            person_opened_before=any(row.source in PERSON_SOURCES for row in earlier),
            opened_from_network=None if network is None else any(
                (addr := addresses.parse(row.ip)) is not None and addr in network
                for row in earlier),
            asn=asn_of(click.ip) if asn_of and click.ip else None,
        )
    return result


def asn_of(ip: str) -> int | None:
    """The ASN of ``ip`` from the configured GeoIP databases (None without one)."""
    place, _status = enrichment.locate(ip)
    return place.asn


def verdicts(clicks: Sequence[Any], opens: Iterable[Any], sent_at: dict[Any, datetime],
             *, base=None) -> dict[Any, Verdict]:
    """The verdict of each click whose stored verdict history changes (pure but for
    the GeoIP lookup of the ASN).

    ``base(click)`` is the verdict before history: by default the stored one,
    which keeps what the request knew and did not store (``Sec-Purpose``, the
    full address). Anonymous clicks (no consent) keep no address or agent:
    only the burst and timing facts speak for them.
    """
    facts = contexts(clicks, opens, sent_at, asn_of)
    changed = {}
    for click in clicks:
        stored = (click.source, click.reason, click.operator)
        before = base(click) if base else Verdict(*stored)
        after = with_context(before, ip=click.ip, user_agent=click.user_agent,
                             kind=kind_of(click), context=facts[click.pk])
        if (after.source, after.reason[:255], after.operator) != stored:
            changed[click.pk] = after
    return changed


# --- settling stored or pending clicks ------------------------------------------------

# What settling reads of a click or a download: a batch's rows and their neighbours load these only.
COMMON_FIELDS = ("id", "message_id", "occurred_at", "source", "reason", "operator", "anonymous",
                 "ip", "user_agent", "method")
CLICK_FIELDS = (*COMMON_FIELDS, "url", "honeypot")
DOWNLOAD_FIELDS = (*COMMON_FIELDS, "document_id")
READ_FIELDS: dict[type, tuple[str, ...]] = {Click: CLICK_FIELDS, Download: DOWNLOAD_FIELDS}


def request_verdict(click: Any) -> Verdict:
    """The verdict a stored click or download had before history: the stored one,
    unless this module gave it, in which case its request is judged again from what
    was stored."""
    stored = Verdict(click.source, click.reason, click.operator)
    if click.anonymous or not _OWN_REASON.match(click.reason or ""):
        return stored
    request = classify(ip=click.ip, user_agent=click.user_agent, kind=CLASSIFIED_AS[kind_of(click)],
                       method=click.method, honeypot=getattr(click, "honeypot", False))
    return request if request.source in UNSETTLED else stored


def settle(rows: Sequence[Click | Download], *, opens: Iterable[Any] = (),
           sent_at: dict[Any, datetime] | None = None, stored: bool = True) -> list[Click | Download]:
    """Judge ``rows`` again with their messages' history, and the clicks near them.

    ``rows`` are stored clicks and downloads about to be enriched, or
    (``stored=False``) a batch about to be inserted, with the batch's own
    opens in ``opens``. Their
    verdicts are changed in memory (and, when stored, in the database; the
    caller writes their enrichment). Stored neighbours that a burst now
    convicts are updated here and sent back to enrichment, to be masked; one
    this module judged on less history is judged again, so the verdict does
    not depend on the order the hits arrived in. ``sent_at`` (message pk to
    sending time) saves a query where the caller has it. Returns the changed rows.
    """
    if not any(row.source in UNSETTLED for row in rows):
        return []
    # Every row that can change is judged with all of its neighbours: a person's
    # or unknown row, and one this module judged before (judged again from its
    # request, say a download convicted in a burst when the clicks were settled).
    judged = [row for row in rows if row.source in UNSETTLED or _OWN_REASON.match(row.reason or "")]
    ids = {row.message_id for row in judged}
    if sent_at is None:
        sent_at = dict(Message.objects.filter(pk__in=ids).values_list("pk", "sent_at"))
    times = [row.occurred_at for row in judged]
    span = (min(times) - BURST_WINDOW, max(times) + BURST_WINDOW)
    near = {row.pk: row for model in LINK_MODELS for row in model.objects.filter(
        message_id__in=ids, occurred_at__range=span).only(*READ_FIELDS[model])}
    mine = {row.pk for row in rows}
    clicks = [row for pk, row in near.items() if pk not in mine] + list(rows)
    seen = [*Open.objects.filter(message_id__in=ids, occurred_at__lte=max(times)).only(
        "message_id", "occurred_at", "source", "ip"), *opens]
    changed = verdicts(clicks, seen, sent_at, base=request_verdict)
    result: list[Click | Download] = []
    neighbours: dict[tuple, list[Any]] = defaultdict(list)
    for click in clicks:
        verdict = changed.get(click.pk)
        if verdict is None:
            continue
        again = verdict.source != click.source  # masked or not may change: enrich again
        click.source = verdict.source
        if not click.anonymous:  # an anonymous row keeps its "no consent" reason
            click.reason, click.operator = verdict.reason[:255], verdict.operator
        if click.pk in mine:
            result.append(click)
        else:
            neighbours[(type(click), click.source, click.reason, click.operator, again)].append(click.pk)
    for (model, source, reason, operator, again), pks in neighbours.items():
        fields = {"source": source, "reason": reason, "operator": operator}
        model.objects.filter(pk__in=pks).update(**fields, **({"enriched_at": None} if again else {}))
    convict_visits([click for click in clicks if click.pk in changed and (stored or click.pk not in mine)
                    and isinstance(click, Click) and click.source in SCANNER_CLICK_SOURCES])
    if stored and result:
        by_fields = defaultdict(list)
        for row in result:
            by_fields[(type(row), row.source, row.reason, row.operator)].append(row.pk)
        for (model, source, reason, operator), pks in by_fields.items():
            model.objects.filter(pk__in=pks).update(source=source, reason=reason, operator=operator)
    return result


# --- visits follow their click ------------------------------------------------------

VISIT_REASON = "Follows a {source} click: scanners load the pages they are sent to"
# What settle_visits reads of a visit (enrichment reads these too).
VISIT_FIELDS = ("id", "message_id", "click_id", "source", "reason", "operator", "anonymous")


def visit_verdict(base: Verdict, click: Any | None) -> Verdict:
    """A visit's verdict given the click it followed (None when unknown or gone)."""
    if click is None or base.source not in UNSETTLED or click.source not in SCANNER_CLICK_SOURCES:
        return base
    return Verdict("scanner", VISIT_REASON.format(source=click.source), click.operator)


def settle_visits(rows: list[Visit], *, clicks: Iterable[Any] = (), stored: bool = True) -> list[Visit]:
    """Visits whose click was a scanner's (or a bot's) become scanner visits.

    ``clicks``: clicks not stored yet (a batch); the others are read by id. Only
    visits a person could have made (``UNSETTLED``) are judged. Returns the
    changed rows (changed in memory; in the database too when ``stored``).
    """
    candidates = [row for row in rows if row.click_id and row.source in UNSETTLED]
    if not candidates:
        return []
    known = {click.pk: click for click in clicks}
    missing = {row.click_id for row in candidates} - set(known)
    if missing:
        known.update({click.pk: click for click in
                      Click.objects.filter(pk__in=missing).only("id", "source", "operator")})
    changed = []
    for row in candidates:
        verdict = visit_verdict(Verdict(row.source, row.reason, row.operator), known.get(row.click_id))
        if verdict.source != row.source:
            row.source, row.reason, row.operator = verdict.source, verdict.reason, verdict.operator
            changed.append(row)
    if stored:
        by_operator = defaultdict(list)
        for row in changed:
            by_operator[(row.reason, row.operator)].append(row.pk)
        for (reason, operator), pks in by_operator.items():
            Visit.objects.filter(pk__in=pks).update(source="scanner", reason=reason, operator=operator)
    return changed


def convict_visits(clicks: Sequence[Any]) -> int:
    """Stored visits that followed these clicks, now known to be a machine's, become
    scanner visits, and go back to enrichment to be masked. Returns rows changed.

    Only while ``VISIT_HOSTS`` is set: without it no click carries a visitor value,
    and the request path of a project without visits pays no query for them.
    """
    if not clicks or not app_settings.VISIT_HOSTS:
        return 0
    by_source: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for click in clicks:
        by_source[(click.source, click.operator)].append(click.pk)
    return sum(Visit.objects.filter(click_id__in=pks, source__in=UNSETTLED).update(
        source="scanner", reason=VISIT_REASON.format(source=source), operator=operator,
        enriched_at=None) for (source, operator), pks in by_source.items())
