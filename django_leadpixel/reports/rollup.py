"""The report rollup: ``figures.partial`` kept per (campaign, sending day).

Every report figure is a sum over messages, so the report of any selection
of campaigns and sending days is the sum of the partials of its cells. A cell
is used only when it is known to be current; the others are computed from the
event tables on the spot, so a report is exact whether or not the rollup has
caught up. A cell is out of date when:

- a writer left a ``ReportDirty`` marker for it: enrichment (every stored
  event passes through it, or is stored enriched by ``store_many``, which
  marks too), reclassification, purge and erase (from the first cell on);
- one of its messages has an event that is not enriched yet (stored by a
  request a moment ago: the request path writes no marker);
- its messages changed (one was created, deleted or moved to another cell):
  the number of messages and the sum of their ids are kept with the cell.

``refresh`` (the ``leadpixel-rollup`` beat task) rebuilds out-of-date cells.
Markers are written after the data they describe is committed, one per cell
with a token that changes each time; a rebuild deletes a marker only if its
token is the one read before the cell was built, so a cell marked again
meanwhile stays marked. The first build marks every cell before it reads
anything, so it leaves nothing stale that it could have built.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from ..models import KINDS, Message, ReportCell, ReportDirty, ReportKey, report_key
from . import figures, rates

logger = logging.getLogger("django_leadpixel")

Key = ReportKey

# Beyond this many out-of-date cells, or unenriched events, in a selection the
# report is computed from the events alone: the cells would save little.
MAX_LIVE_CELLS = 200
MAX_UNENRICHED = 5000


key_of = report_key

# A cell whose data lacks this key, or follows other rules (``figures.RULES``), was
# built by an earlier version: its figures come from the events until it is rebuilt.
CURRENT_KEY = "message_flags"


def current_data(data: dict[str, Any]) -> bool:
    return CURRENT_KEY in data and data.get("rules") == figures.RULES


def keys_of_messages(message_ids: Iterable[int]) -> set[Key]:
    """The cells of these messages, as :func:`messages_per_cell` finds them (in SQL, so
    that a message sent on a day Python has no date for in this time zone has one)."""
    ids = list(set(message_ids))
    keys: set[Key] = set()
    with timezone.override(timezone.get_default_timezone()):
        for start in range(0, len(ids), 1000):
            keys.update(messages_per_cell(Message.objects.filter(pk__in=ids[start:start + 1000])))
    return keys


def in_use() -> bool:
    """Whether any cell was built: until then (or after ``clear``) nothing is marked."""
    return ReportCell.objects.in_use()


def mark(keys: Iterable[Key]) -> None:
    """Leave a marker for each cell (``ReportDirty.objects.mark``)."""
    ReportDirty.objects.mark(keys)


def clear() -> int:
    """Delete every cell and marker: reports come from the events until the next refresh."""
    ReportDirty.objects.all().delete()
    return ReportCell.objects.all().delete()[0]


def _day_range(key: Key) -> Q:
    """The messages of a cell; the first and the last day Python has are open-ended
    (``figures.local_day``)."""
    campaign, day = key
    condition = Q(campaign=campaign)
    if day > datetime.date.min:
        condition &= Q(sent_at__gte=figures.day_start(day))
    if day < datetime.date.max:
        condition &= Q(sent_at__lt=figures.next_day_start(day))
    return condition


def messages_of(keys: Iterable[Key]) -> QuerySet:
    condition = Q(pk__in=[])
    for key in keys:
        condition |= _day_range(key)
    return Message.objects.order_by().filter(condition)


def messages_per_cell(messages: QuerySet) -> dict[Key, tuple[int, int]]:
    """(number of messages, sum of their ids) per cell of ``messages``."""
    rows = (messages.annotate(day=figures.local_day("sent_at")).values("campaign", "day")
            .annotate(n=Count("pk"), ids=Sum("pk")).order_by())
    return {(row["campaign"], row["day"]): (row["n"], int(row["ids"])) for row in rows}


def _usable() -> bool:
    # Cells hold days of the default time zone; a user in another one gets the
    # events' own figures.
    return (timezone.get_current_timezone_name() == timezone.get_default_timezone_name()
            and in_use())


def out_of_date_keys() -> set[Key] | None:
    """Cells with markers or unenriched events; None when there are too many to list."""
    markers = list(ReportDirty.objects.values_list("campaign", "day").distinct()
                   .order_by()[:MAX_LIVE_CELLS + 1])
    if len(markers) > MAX_LIVE_CELLS:
        return None
    message_ids: set[int] = set()
    for model in KINDS.values():  # every kind counts in the figures (models.person_events)
        ids = list(model.objects.filter(enriched_at__isnull=True).order_by()
                   .values_list("message_id", flat=True)[:MAX_UNENRICHED + 1])
        if len(ids) > MAX_UNENRICHED:
            return None
        message_ids.update(ids)
    return set(markers) | keys_of_messages(message_ids)


def report_partial(*, campaign: str | None = None, start: datetime.date | None = None,
                   end: datetime.date | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """``figures.partial`` of a selection, from current cells and live queries.

    Returns the partial and how it was made: ``cells`` read from the rollup,
    ``live`` cells computed from the events (-1: the whole selection was).
    """
    if not _usable():
        return figures.live_partial(campaign=campaign, start=start, end=end), \
            {"cells": 0, "live": -1}
    stale = out_of_date_keys()
    if stale is None:
        return figures.live_partial(campaign=campaign, start=start, end=end), \
            {"cells": 0, "live": -1}
    sent = messages_per_cell(figures.select_messages(campaign=campaign, start=start, end=end))
    cells = ReportCell.objects.order_by()
    if campaign is not None:
        cells = cells.filter(campaign=campaign)
    if start is not None:
        cells = cells.filter(day__gte=start)
    if end is not None:
        cells = cells.filter(day__lte=end)
    built = {(c, d): ((n, int(ids)), data) for c, d, n, ids, data
             in cells.values_list("campaign", "day", "sent", "id_sum", "data")}
    live = [key for key, messages in sent.items()
            if key in stale or key not in built or built[key][0] != messages
            or not current_data(built[key][1])]
    if len(live) > MAX_LIVE_CELLS:
        return figures.live_partial(campaign=campaign, start=start, end=end), \
            {"cells": 0, "live": -1}
    live_set = set(live)
    parts = [built[key][1] for key in sent if key not in live_set]
    if live:
        parts.append(figures.partial(messages_of(live)))
    merged = figures.merge(parts)
    # The recipient rule of the cohorts reaches across cells: counted live, never stored.
    merged["recipient_hidden"] = rates.recipient_hidden(
        figures.select_messages(campaign=campaign, start=start, end=end),
        figures.local_day("sent_at"))
    return merged, {"cells": len(sent) - len(live), "live": len(live)}


def _rebuild(key: Key, has_messages: bool, token: str | None) -> None:
    if has_messages:
        messages = messages_of([key])
        ids = messages.aggregate(n=Count("pk"), ids=Sum("pk"))
        data = figures.partial(messages)
        ReportCell.objects.update_or_create(
            campaign=key[0], day=key[1],
            defaults={"sent": ids["n"], "id_sum": ids["ids"] or 0, "data": data,
                      "built_at": timezone.now()})
    if token is not None:  # unless a writer marked the cell again meanwhile
        ReportDirty.objects.filter(campaign=key[0], day=key[1], token=token).delete()


def refresh(limit: int | None = 500, *, rebuild: bool = False) -> dict[str, int]:
    """Rebuild out-of-date cells, at most ``limit`` (None: all); ``rebuild`` redoes every cell.

    Idempotent, and safe to run in several workers at once: a marker is
    deleted only by a rebuild that read it before building its cell, and not
    if a writer marked the cell again meanwhile.
    """
    with timezone.override(timezone.get_default_timezone()):
        return _refresh(limit, rebuild)


def _refresh(limit: int | None, rebuild: bool) -> dict[str, int]:
    sent = messages_per_cell(Message.objects.order_by())
    if not ReportDirty.objects.in_use():
        # The first build: every cell is marked before anything is read, so that
        # writers mark what they commit from now on (they mark nothing while the
        # rollup is not in use); what committed before is in what is read next.
        ReportDirty.objects.mark(sent, force=True)
    # The markers as they are now: one re-marked during the build keeps its new token.
    markers = {(c, d): token for c, d, token
               in ReportDirty.objects.values_list("campaign", "day", "token")}
    built = {(c, d): (n, int(ids)) for c, d, n, ids
             in ReportCell.objects.values_list("campaign", "day", "sent", "id_sum")}
    todo = set(sent) if rebuild else {key for key, n in sent.items() if built.get(key) != n}
    todo |= set(markers)
    # Cells built before a figure was added to the partial.
    todo |= {(c, d) for c, d in ReportCell.objects.exclude(data__has_key=CURRENT_KEY)
             .values_list("campaign", "day") if (c, d) in sent}
    gone = [key for key in built if key not in sent]
    for key in gone:
        ReportCell.objects.filter(campaign=key[0], day=key[1]).delete()
    done = 0
    for key in sorted(todo)[:limit]:
        try:
            # One cell's failure must not stop the others, run after run: its savepoint
            # is rolled back, it stays out of date (its figures come from the events)
            # and is tried again next time.
            with transaction.atomic():
                _rebuild(key, key in sent, markers.get(key))
        except Exception:
            logger.exception("leadpixel rollup: cell (campaign %r, day %s) skipped",
                             key[0], key[1])
            continue
        done += 1
    return {"built": done, "deleted": len(gone), "waiting": max(0, len(todo) - done)}
