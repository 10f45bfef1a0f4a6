"""Honest rates: how many people opened a campaign, counting the readers proxies hide.

Apple Mail Privacy Protection fetches every image on delivery, so an Apple
reader's own opening never reaches the tracker; only their clicks do. This
module puts each message in one **cohort**, from the stored verdicts of its
own events (no new classification), and estimates the hidden cohort's readers
from its clicks.

Cohorts (first rule that holds; :func:`cohort_of`):

1. ``hidden``: an Apple MPP prefetch (``apple_mpp`` open) of this message was
   stored, or of another message to the same recipient address (Apple's
   prefetch is missed now and then: one message seen prefetched says the
   mailbox is behind MPP);
2. ``proxy``: a reader's open-time proxy loaded the pixel (``google_proxy``,
   ``yahoo_proxy``, ``other_proxy``): a person opened it;
3. ``direct``: a person's own client loaded it (a ``human`` open);
4. ``none``: nothing was loaded by or for a reader. Opens by scanners, bots
   and ``unknown`` verdicts do not count as loaded: no reader's client is known
   to be behind them.

**Images blocked**: messages of cohort ``none`` where a person acted on a link
(``models.ACTED_ON_LINK``: a person's click, download or visit; "clicked"
below). The reader opened the mail (they clicked in it) and no image was
loaded for them.

**The estimate** (:func:`estimate`). Every message of the ``proxy`` and
``direct`` cohorts was opened by a person (``O`` of them, ``C`` clicked).
The hidden cohort had ``h`` readers, unknown, of which ``U`` clicked. If a
reader clicks with the same chance ``p`` whatever their cohort (the one
assumption), then given the ``m = U + C`` readers who clicked, which of the
``O + h`` readers they are is a uniform draw, so ``U`` follows the
hypergeometric law (``O + h`` readers, ``h`` hidden, ``m`` drawn), whatever
``p`` is. The point estimate is the visible click-to-open ratio applied to
the hidden clicks, ``U * O / C``; the 90% interval holds every ``h`` whose
hypergeometric tail at the observed ``U`` is at least 5% on either side
(the Clopper-Pearson construction, exact and conservative). Both are kept
within what is known: at least the hidden messages seen opened by a person
(a click, or a person's open from another device), at most the cohort's size.
Estimated opened by people = opened by a person outside the hidden cohort +
estimated hidden readers. Below ``MIN_CLICKS`` person clicks in the hidden or
in the visible cohorts the answer is "not enough data".

Readers with images blocked who never click are not counted (the
images-blocked figure is the floor of them); when Apple readers click at
another rate than the others, the estimate is off by that factor (README "How
many people really opened it").

Additive counts: :func:`flag_counts` counts messages per (campaign, sending day, own
flags) for ``figures.partial`` and the rollup cells; :func:`recipient_hidden`
counts, live, the messages moved to the hidden cohort by their recipient's
other messages (a rule that reaches across cells, so it is never stored).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    Expression,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from ..models import ACTED_ON_LINK, KINDS, EventModel, Open, person_filter
from ..sources import Source

COHORTS: tuple[str, ...] = ("hidden", "proxy", "direct", "none")
COHORT_LABELS: dict[str, str] = {
    "hidden": "Opens hidden (Apple Mail Privacy Protection)",
    "proxy": "Opens via a reader's proxy (Gmail, Yahoo, ...)",
    "direct": "Opens seen directly (a person's own client)",
    "none": "Nothing loaded",
}
HIDDEN_SOURCES: tuple[str, ...] = (Source.APPLE_MPP.value,)
READER_PROXY_SOURCES: tuple[str, ...] = (
    Source.GOOGLE_PROXY.value, Source.YAHOO_PROXY.value, Source.OTHER_PROXY.value)
DIRECT_SOURCES: tuple[str, ...] = (Source.HUMAN.value,)

# Fewer person clicks than this in the hidden cohort or in the visible ones: "not enough data".
MIN_CLICKS = 5
LEVEL = 0.90
METHOD = "click-to-open ratio; exact hypergeometric 90% interval"

# A message's own flags, in the order of the key "campaign|day|AXDK" of ``flag_counts``:
# Apple MPP open, reader's-proxy open, direct (human) open, a person acted on a link.
FLAGS = ("apple", "proxy", "direct", "click")


# --- the rules (pure) ---------------------------------------------------------------------


def cohort_of(*, apple: bool, proxy: bool, direct: bool, recipient_apple: bool = False) -> str:
    """The cohort of a message from its own opens and its recipient's other messages."""
    if apple or recipient_apple:
        return "hidden"
    if proxy:
        return "proxy"
    if direct:
        return "direct"
    return "none"


def flags_key(campaign: str, day: str, apple: bool, proxy: bool, direct: bool,
              click: bool) -> str:
    bits = "".join("1" if flag else "0" for flag in (apple, proxy, direct, click))
    return f"{campaign}|{day}|{bits}"


def parse_key(key: str) -> tuple[str, str, dict[str, bool]]:
    """(campaign, day, flags); the campaign may hold "|", the day and the flags never do."""
    campaign, day, bits = key.rsplit("|", 2)
    return campaign, day, {name: bit == "1" for name, bit in zip(FLAGS, bits, strict=True)}


# --- the counts (queries) -----------------------------------------------------------------


def _code(model: EventModel, bits: tuple[tuple[Q, int], ...]) -> Coalesce:
    """The OR of ``bits`` over a message's events that meet each condition (on their
    source), in one correlated aggregate subquery (an index-only scan of that message's
    (message, source) entries). Not ``EXISTS``: PostgreSQL may hash an ``EXISTS`` over
    every event of a source in the table, which a rollup cell of a thousand messages
    must not pay."""
    code = sum((Max(Case(When(condition, then=Value(bit)), default=Value(0)))
                for condition, bit in bits[1:]),
               start=Max(Case(When(bits[0][0], then=Value(bits[0][1])), default=Value(0))))
    rows = (model.objects.filter(message_id=OuterRef("pk")).order_by().values("message_id")
            .annotate(code=code).values("code"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


OPEN_BITS = ((Q(source__in=HIDDEN_SOURCES), 4), (Q(source__in=READER_PROXY_SOURCES), 2),
             (Q(source__in=DIRECT_SOURCES), 1))


def _acted() -> Expression:
    """Above 0 when a person acted on a link of the message: one aggregate per kind."""
    codes = [_code(KINDS[kind], ((person_filter(kind), 1),)) for kind in ACTED_ON_LINK]
    return functools.reduce(operator.add, codes)


def _grouped(messages: QuerySet, day: Expression) -> dict[str, int]:
    rows = (messages.annotate(lp_day=day, lp_opens=_code(Open, OPEN_BITS), lp_click=_acted())
            .values("campaign", "lp_day", "lp_opens", "lp_click")
            .annotate(n=Count("pk")).order_by())
    out: dict[str, int] = {}
    for row in rows:
        opens = row["lp_opens"]
        key = flags_key(row["campaign"], row["lp_day"].isoformat(), bool(opens & 4),
                        bool(opens & 2), bool(opens & 1), bool(row["lp_click"]))
        out[key] = out.get(key, 0) + row["n"]
    return out


def flag_counts(messages: QuerySet, day: Expression) -> dict[str, int]:
    """Messages per (campaign, sending day, own flags): ``{"autumn|2026-03-10|1001": n}``.

    Additive over disjoint sets of messages; ``day`` is the sending day
    expression (``figures.local_day("sent_at")``). One query: a correlated
    subquery per kind of event per message, served by the ``(message, source)`` indexes.
    """
    return _grouped(messages, day)


def recipient_hidden(messages: QuerySet, day: Expression) -> dict[str, int]:
    """The messages of ``messages`` with no Apple MPP open of their own whose recipient
    has one on another message, counted like :func:`flag_counts` (by their own flags).

    Computed for each report, never stored: an event of one cell changes the
    cohort of messages in others.
    """
    apple_recipients = (Open.objects.filter(source__in=HIDDEN_SOURCES).order_by()
                        .values("message__recipient"))
    moved = messages.filter(recipient__in=apple_recipients).exclude(
        Exists(Open.objects.filter(message_id=OuterRef("pk"), source__in=HIDDEN_SOURCES)))
    return _grouped(moved, day)


# --- the interval (pure) ------------------------------------------------------------------


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeometric_tail(x: int, *, total: int, marked: int, drawn: int, upper: bool) -> float:
    """P(X <= x) (or P(X >= x) when ``upper``) for X the marked items among ``drawn``
    of ``total`` items, ``marked`` of them marked.

    Summed from ``x`` away from the mode, where terms only shrink, until they no
    longer matter: a few times the spread, whatever the counts.
    """
    low = max(0, drawn - (total - marked))
    high = min(drawn, marked)
    if x < low:
        return 0.0 if not upper else 1.0
    if x > high:
        return 1.0 if not upper else 0.0
    base = _log_comb(total, drawn)

    def pmf(k: int) -> float:
        return math.exp(_log_comb(marked, k) + _log_comb(total - marked, drawn - k) - base)

    mode = (drawn + 1) * (marked + 1) // (total + 2)

    def run(start: int, stop: int, step: int) -> float:
        acc = 0.0
        for k in range(start, stop, step):
            term = pmf(k)
            acc += term
            if term < 1e-17 * max(acc, 1e-300) and (k - mode) * step > 0:
                break
        return acc

    if not upper:
        if x <= mode:
            return min(1.0, run(x, low - 1, -1))
        return max(0.0, 1.0 - run(x + 1, high + 1, 1))
    if x >= mode:
        return min(1.0, run(x, high + 1, 1))
    return max(0.0, 1.0 - run(x - 1, low - 1, -1))


def _search(first: int, last: int, ok: Callable[[int], bool]) -> int:
    """The smallest ``h`` in [first, last] with ``ok(h)`` (monotone: False then True);
    ``last`` + 1 when none."""
    lo, hi = first, last + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def hidden_readers(*, hidden_clicks: int, visible_readers: int, visible_clicks: int,
                   cohort: int, seen: int = 0, level: float = LEVEL) -> tuple[int, int, int]:
    """(estimate, low, high) of the hidden cohort's readers (module docstring).

    ``cohort`` is the hidden cohort's size, ``seen`` its messages known opened by a
    person (at least ``hidden_clicks``). Needs ``visible_clicks`` > 0.
    """
    if visible_clicks <= 0:
        raise ValueError("no visible clicks: the click-to-open ratio is unknown")
    u, o, c = hidden_clicks, visible_readers, visible_clicks
    floor = max(u, seen)
    alpha = (1 - level) / 2
    drawn = u + c

    def tail(h: int, upper: bool) -> float:
        return hypergeometric_tail(u, total=o + h, marked=h, drawn=drawn, upper=upper)

    # P(X <= u) falls as h grows: the last h where it is still >= alpha.
    high = _search(u, cohort, lambda h: tail(h, False) < alpha) - 1
    # P(X >= u) rises as h grows: the first h where it reaches alpha.
    low = _search(u, cohort, lambda h: tail(h, True) >= alpha)
    low = min(max(low, floor), cohort)
    high = min(max(high, low), cohort)
    point = min(max(round(u * o / c), low), high)
    return point, low, high


# --- the report's figures (pure) ----------------------------------------------------------


def _rate(part: int | float, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def cohort_table(flags: dict[str, int], moved: dict[str, int] | None = None
                 ) -> tuple[dict[str, dict[str, int]], dict[str, list[int]], dict[str, list[int]]]:
    """Per cohort: sent, seen (opened by a person: a person's open, or a person acted on a
    link), seen opens, person clicks (messages where a person acted on a link); per
    sending day and per campaign [sent, images blocked]."""
    moved = moved or {}
    table = {c: {"sent": 0, "seen": 0, "seen_opens": 0, "person_clicks": 0} for c in COHORTS}
    days: dict[str, list[int]] = {}
    campaigns: dict[str, list[int]] = {}
    for key, n in flags.items():
        campaign, day, f = parse_key(key)
        n_moved = min(moved.get(key, 0), n)
        for count, recipient_apple in ((n - n_moved, False), (n_moved, True)):
            if not count:
                continue
            cohort = cohort_of(apple=f["apple"], proxy=f["proxy"], direct=f["direct"],
                               recipient_apple=recipient_apple)
            row = table[cohort]
            row["sent"] += count
            opened = f["proxy"] or f["direct"]
            row["seen_opens"] += count if opened else 0
            row["seen"] += count if opened or f["click"] else 0
            row["person_clicks"] += count if f["click"] else 0
            blocked = count if cohort == "none" and f["click"] else 0
            days.setdefault(day, [0, 0])[1] += blocked
            campaigns.setdefault(campaign, [0, 0])[1] += blocked
        days.setdefault(day, [0, 0])[0] += n
        campaigns.setdefault(campaign, [0, 0])[0] += n
    return table, days, campaigns


def estimate(table: dict[str, dict[str, int]]) -> tuple[dict[str, Any] | None, str | None,
                                                         dict[str, int] | None]:
    """``({"value", "low", "high", "method", "level"}, None, hidden part)``, or
    ``(None, reason, None)`` below the minimum."""
    hidden = table["hidden"]
    visible_readers = table["proxy"]["sent"] + table["direct"]["sent"]
    visible_clicks = table["proxy"]["person_clicks"] + table["direct"]["person_clicks"]
    seen = sum(row["seen"] for row in table.values())
    seen_outside = seen - hidden["seen"]
    if not hidden["sent"]:
        part = {"value": 0, "low": 0, "high": 0}
    elif hidden["person_clicks"] < MIN_CLICKS or visible_clicks < MIN_CLICKS:
        return None, (
            f"Not enough data: the estimate needs at least {MIN_CLICKS} person clicks in the "
            f"hidden cohort (has {hidden['person_clicks']}) and in the cohorts whose opens are "
            f"seen (have {visible_clicks})."), None
    else:
        value, low, high = hidden_readers(
            hidden_clicks=hidden["person_clicks"], visible_readers=visible_readers,
            visible_clicks=visible_clicks, cohort=hidden["sent"], seen=hidden["seen"])
        part = {"value": value, "low": low, "high": high}
    figure = {key: seen_outside + part[key] for key in ("value", "low", "high")}
    return {**figure, "method": METHOD, "level": LEVEL}, None, part


def report_figures(flags: dict[str, int], moved: dict[str, int] | None = None) -> dict[str, Any]:
    """The report's honest-rates fields, from the additive counts."""
    table, days, campaigns = cohort_table(flags, moved)
    sent = sum(row["sent"] for row in table.values())
    figure, reason, hidden_part = estimate(table)
    blocked = table["none"]["person_clicks"]
    clicked = sum(row["person_clicks"] for row in table.values())
    cohorts = []
    for cohort in COHORTS:
        row = table[cohort]
        if cohort == "hidden":
            estimated = hidden_part["value"] if hidden_part else None
        else:  # every reader of these cohorts is seen (``none``: those who clicked)
            estimated = row["seen"]
        cohorts.append({"cohort": cohort, "label": COHORT_LABELS[cohort], "sent": row["sent"],
                        "seen_opens": row["seen_opens"], "person_clicks": row["person_clicks"],
                        "opened_by_person": row["seen"], "estimated_opens": estimated})
    return {
        "opened_by_people_estimate": figure,
        "opened_by_people_estimate_reason": reason,
        "images_blocked": {"count": blocked, "rate": _rate(blocked, sent),
                           "of_person_clicks": _rate(blocked, clicked)} if sent else None,
        "images_blocked_reason": None if sent else "No messages sent in the selection.",
        "images_blocked_daily": [{"date": day, "sent": days[day][0], "count": days[day][1],
                                  "rate": _rate(days[day][1], days[day][0])}
                                 for day in sorted(days)],
        "images_blocked_by_campaign": [
            {"campaign": name, "sent": campaigns[name][0], "count": campaigns[name][1],
             "rate": _rate(campaigns[name][1], campaigns[name][0])} for name in sorted(campaigns)],
        "cohorts": cohorts,
    }


def percentages(report: dict[str, Any]) -> dict[str, float | None]:
    """The estimate and images blocked in percent of the messages sent, for display."""
    sent = report["sent"]
    figure = report["opened_by_people_estimate"]
    out: dict[str, float | None] = dict.fromkeys(("value", "low", "high", "blocked"))
    if sent and figure is not None:
        out.update({key: figure[key] / sent * 100 for key in ("value", "low", "high")})
    if report["images_blocked"] is not None:
        out["blocked"] = report["images_blocked"]["rate"] * 100
    return out
