"""Retention: purge old messages, erase one recipient. Both in batches."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import app_settings
from ..models import Message, ReportDirty
from .paging import EVENT_MODELS


def purge(days: int | None = None, *, now: datetime | None = None,
          batch_size: int | None = None) -> int:
    """Delete messages (and their events) sent more than ``days`` ago, in batches.

    ``days`` defaults to ``LEADPIXEL["RETENTION_DAYS"]``; None keeps everything.
    Returns the number of messages deleted.
    """
    days = app_settings.RETENTION_DAYS if days is None else days
    if days is None:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return _delete_messages(Message.objects.filter(sent_at__lt=cutoff), batch_size)


def erase_recipient(address: str, batch_size: int | None = None) -> int:
    """Delete every message to ``address`` (case-insensitive) and all its events."""
    return _delete_messages(Message.objects.filter(recipient__iexact=address.strip()), batch_size)


def _delete_messages(queryset: QuerySet, batch_size: int | None) -> int:
    size = batch_size or app_settings.BATCH_SIZE
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return deleted
        keys = ReportDirty.objects.keys_of_messages(ids)
        with transaction.atomic():
            transaction.on_commit(functools.partial(ReportDirty.objects.mark, keys))
            for model in EVENT_MODELS:
                model.objects.filter(message_id__in=ids).delete()
            Message.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
