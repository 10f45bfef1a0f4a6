"""Paging over stored rows: keyset chunks, and batches locked for one worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

from ..models import KINDS, EventModel

_M = TypeVar("_M", bound=Model)

EVENT_MODELS: tuple[EventModel, ...] = tuple(KINDS.values())


def locked_batch(queryset: QuerySet[_M], size: int) -> list[_M]:
    """The first ``size`` rows of ``queryset``, locked for this transaction.

    PostgreSQL: rows another worker holds are skipped, so several workers
    sweeping at once share the work instead of waiting on each other.
    """
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    return list(queryset[:size])


def iter_chunks(queryset: QuerySet[_M], size: int) -> Iterator[list[_M]]:
    """Rows of ``queryset`` in primary-key order, ``size`` at a time (keyset paging)."""
    last_pk = None
    while True:
        page = queryset.order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        rows = list(page[:size])
        if not rows:
            return
        yield rows
        last_pk = rows[-1].pk
