"""Retention: purge old messages, erase one recipient. Both in batches."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import app_settings
from ..models import KINDS, Message, ReportDirty


def purge(days: int | None = None, *, now: datetime | None = None,
          batch_size: int | None = None, totals: Counter[str] | None = None) -> int:
    """Delete messages (and their events) sent more than ``days`` ago, in batches.

    ``days`` defaults to ``LEADPIXEL["RETENTION_DAYS"]``; None keeps everything.
    Returns the number of messages deleted; ``totals``, when given, is added
    the messages and events of each kind deleted ("opens", "clicks", "visits") (the command reports them).
    """
    days = app_settings.RETENTION_DAYS if days is None else days
    if days is None:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return _delete_messages(Message.objects.filter(sent_at__lt=cutoff), batch_size, totals)


def recipient_messages(address: str) -> QuerySet:
    """Every message to ``address`` (case-insensitive)."""
    return Message.objects.filter(recipient__iexact=address.strip())


def erase_recipient(address: str, batch_size: int | None = None,
                    totals: Counter[str] | None = None) -> int:
    """Delete every message to ``address`` (case-insensitive) and all its events.

    Returns the number of messages deleted (``totals`` as for ``purge``). What
    waits outside the database (the spool, the Redis buffer) and the report
    cells are the ``leadpixel_erase`` command's to clear.
    """
    return _delete_messages(recipient_messages(address), batch_size, totals)


def _delete_messages(queryset: QuerySet, batch_size: int | None,
                     totals: Counter[str] | None = None) -> int:
    size = batch_size or app_settings.BATCH_SIZE
    counts: Counter[str] = Counter()
    cells = set()
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            break
        cells |= ReportDirty.objects.keys_of_messages(ids)
        with transaction.atomic():
            for kind, model in KINDS.items():  # "opens", "clicks", "visits", ...
                counts[f"{kind}s"] += model.objects.filter(message_id__in=ids).delete()[0]
            counts["messages"] += Message.objects.filter(pk__in=ids).delete()[0]
    # One marker per cell, not per message or batch (the rollup also sees a
    # cell's messages change by their count and the sum of their ids).
    ReportDirty.objects.mark(cells)
    if totals is not None:
        totals.update(counts)
    return counts["messages"]
