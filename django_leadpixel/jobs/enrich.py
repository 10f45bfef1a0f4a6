"""Enrichment of stored events: place and device, or a mask, written in batches.

Clicks and downloads are first judged again with their messages' history
(``history.settle``): a burst or a machine at delivery time is masked, never
given a reader's place. Every job here is idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import history, sql
from ..conf import app_settings
from ..enrichment import ENRICHED_FIELDS, READ_FIELDS, enrichment_for
from ..models import KINDS, Click, Download, EventModel, Open, ReportDirty, Visit, fit
from .paging import EVENT_MODELS, locked_batch

# What enrichment reads of each kind, with what history reads of it: the sweep loads nothing else.
HISTORY_FIELDS: dict[type, tuple[str, ...]] = {**history.READ_FIELDS, Visit: history.VISIT_FIELDS}


def read_fields(model: EventModel) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*READ_FIELDS, *HISTORY_FIELDS.get(model, ()))))


def fields_of(row: Open | Click | Download | Visit, now: datetime | None = None) -> dict[str, Any]:
    """The enrichment of one row, cut to its columns."""
    return fit(type(row), enrichment_for(row, now))


def settle_clicks(rows: list[Click | Download]) -> list[Click | Download]:
    """Judge stored clicks and downloads again with their messages' history, before
    they are enriched (``history.settle``). Returns the rows whose verdict changed."""
    return history.settle(rows)


def write(model: EventModel, rows: list[Any], *, only_new: bool) -> int:
    """Write the enrichment of ``rows``: on PostgreSQL one statement per batch
    (``sql.update_many``), elsewhere one UPDATE per distinct set of values.

    Real traffic repeats (every Gmail open is the same masked row, people
    share cities and devices), so grouping leaves a few statements per batch
    where ``bulk_update`` would build one CASE per field and row. With
    ``only_new``, the ``enriched_at IS NULL`` guard makes a duplicate task
    delivery, or two workers racing on a row, change nothing.
    """
    now = timezone.now()
    if model in history.LINK_MODELS:
        settle_clicks(rows)
    elif model is Visit:
        history.settle_visits(cast("list[Visit]", rows))
    ReportDirty.objects.mark_messages_after_commit(row.message_id for row in rows)
    if connection.vendor == "postgresql":
        return sql.update_many(connection, model, rows, lambda row: fields_of(row, now),
                               fields=ENRICHED_FIELDS, only_new=only_new)
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in rows:
        groups[tuple(fields_of(row, now).items())].append(row.pk)
    base = model.objects.unenriched() if only_new else model.objects.all()
    return sum(base.filter(pk__in=pks).update(**dict(values)) for values, pks in groups.items())


def enrich_many(kind: str, event_ids: list[str]) -> int:
    """Enrich the listed events that are not enriched yet. Returns rows written."""
    model = KINDS[kind]
    rows = list(model.objects.unenriched().filter(pk__in=event_ids)
                .order_by().only(*read_fields(model)))
    return write(model, rows, only_new=True)


def enrich_one(kind: str, event_id: str) -> bool:
    """Enrich one event if it is not enriched yet. False when there was nothing to do."""
    return bool(enrich_many(kind, [event_id]))


def enrich_batches(
    queryset_for: Callable[[EventModel], QuerySet],
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Enrich the rows ``queryset_for(model)`` selects, batch after batch. Returns rows done."""
    size = batch_size or app_settings.BATCH_SIZE
    done = 0
    for model in EVENT_MODELS:
        batches = 0
        last_pk = None
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                queryset = queryset_for(model).order_by("pk")
                if last_pk is not None:
                    queryset = queryset.filter(pk__gt=last_pk)
                rows = locked_batch(queryset.only(*read_fields(model)), size)
                if not rows:
                    break
                # The rows are ours (locked on PostgreSQL); --all rewrites enriched ones too.
                write(model, rows, only_new=False)
            last_pk = rows[-1].pk
            batches += 1
            done += len(rows)
            if progress:
                progress(len(rows))
    return done


def sweep(batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Enrich every event that is not enriched yet (the periodic safety net)."""
    return enrich_batches(lambda model: model.objects.unenriched(),
                          batch_size=batch_size, max_batches=max_batches)


