"""Batch jobs over stored events: enrich, purge, reclassify, erase.

Plain functions over the ORM; ``tasks.py`` and the management commands are
thin wrappers around them. Every job is idempotent: running it twice changes
nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from . import enrichment, history, rollup
from .classify import MACHINE_FOR_READER, MACHINE_NO_READER, Verdict, classify
from .conf import app_settings
from .enrichment import GeoStatus
from .models import KINDS, Click, Message, Open

EVENT_MODELS: tuple[type[Open] | type[Click], ...] = (Open, Click)

PLACE_FIELDS = ("country", "region", "city", "latitude", "longitude", "accuracy_radius",
                "asn", "as_org")
DEVICE_FIELDS = ("device_type", "os", "os_version", "browser", "browser_version", "mail_client")
# What enrichment_for reads of a row, and history.settle of a click: the sweep loads nothing else.
READ_FIELDS = ("id", "message_id", "source", "anonymous", "ip", "user_agent")
CLICK_READ_FIELDS = tuple(dict.fromkeys((*READ_FIELDS, *history.CLICK_FIELDS)))

ENRICHED_FIELDS = ("enriched_at", "masked", "geo_status", *PLACE_FIELDS, *DEVICE_FIELDS)


def read_fields(model) -> tuple[str, ...]:
    return CLICK_READ_FIELDS if model is Click else READ_FIELDS


def enrichment_for(event: Open | Click, now: datetime | None = None) -> dict[str, Any]:
    """The enrichment fields of one event (pure given the GeoIP and UA caches).

    A proxy's or machine's address and agent describe the machine, not the
    reader: those events get no place and no device, only ``masked`` (the
    operator was stored with the verdict). Reporting Mountain View for every
    Gmail open is the bug this app exists to avoid.
    """
    fields: dict[str, Any] = {name: "" for name in ENRICHED_FIELDS}
    fields.update(latitude=None, longitude=None, accuracy_radius=None, asn=None,
                  masked=False, enriched_at=now or timezone.now())
    if event.source in MACHINE_FOR_READER or event.source in MACHINE_NO_READER:
        fields.update(masked=True, geo_status=GeoStatus.MASKED)
        return fields
    if event.anonymous or not event.ip:
        fields["geo_status"] = GeoStatus.SKIPPED
    else:
        place, status = enrichment.locate(event.ip)
        fields["geo_status"] = status
        fields.update({name: getattr(place, name) for name in PLACE_FIELDS})
        fields["region"] = (fields["region"] or "")[:100]
        fields["city"] = (fields["city"] or "")[:100]
    if event.user_agent:
        device = enrichment.parse_user_agent(event.user_agent)
        fields.update({name: (getattr(device, name) or "")[:64] for name in DEVICE_FIELDS})
    return fields


def _write(model: type[Open] | type[Click], rows: list[Open | Click], *, only_new: bool) -> int:
    """Write the enrichment of ``rows``: one UPDATE per distinct set of values.

    Real traffic repeats (every Gmail open is the same masked row, people
    share cities and devices), so this is a few statements per batch, where
    ``bulk_update`` would build one CASE per field and row. With
    ``only_new``, the ``enriched_at IS NULL`` guard makes a duplicate task
    delivery, or two workers racing on a row, change nothing.
    """
    now = timezone.now()
    if model is Click:
        settle_clicks(rows)
    rollup.mark_messages_after_commit(row.message_id for row in rows)
    if connection.vendor == "postgresql":
        return _write_values(model, rows, now, only_new=only_new)
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in rows:
        groups[tuple(enrichment_for(row, now).items())].append(row.pk)
    base = model.objects.filter(enriched_at__isnull=True) if only_new else model.objects.all()
    return sum(base.filter(pk__in=pks).update(**dict(values)) for values, pks in groups.items())


def _write_values(model, rows: list, now: datetime, *, only_new: bool) -> int:
    """PostgreSQL: the whole batch in one ``UPDATE ... FROM unnest(arrays)``.

    People's rows rarely share a place and a device, so grouping still leaves
    about one statement per row; one statement per batch, with one array
    parameter per column, is what lets the sweep keep up.
    """
    fields = [model._meta.pk, *(model._meta.get_field(name) for name in ENRICHED_FIELDS)]
    names = [connection.ops.quote_name(f.column) for f in fields]
    columns: list[list[Any]] = [[] for _ in fields]
    for row in rows:
        values = enrichment_for(row, now)
        columns[0].append(fields[0].get_db_prep_value(row.pk, connection))
        for i, f in enumerate(fields[1:], 1):
            columns[i].append(f.get_db_prep_save(values[f.name], connection))
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    guard = f" AND t.{names[1]} IS NULL" if only_new else ""  # names[1] is enriched_at
    sql = (f"UPDATE {connection.ops.quote_name(model._meta.db_table)} AS t SET "
           + ", ".join(f"{n} = v.{n}" for n in names[1:])
           + f" FROM unnest({arrays}) AS v({', '.join(names)})"
           + f" WHERE t.{names[0]} = v.{names[0]}{guard}")
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        return cursor.rowcount


def settle_clicks(rows: list[Click]) -> list[Click]:
    """Judge stored clicks again with their messages' history, before they are
    enriched (``history.settle``). Returns the clicks whose verdict changed."""
    return history.settle(rows)


def enrich_many(kind: str, event_ids: list[str]) -> int:
    """Enrich the listed events that are not enriched yet. Returns rows written."""
    model = KINDS[kind]
    rows = list(model.objects.filter(pk__in=event_ids, enriched_at__isnull=True)
                .order_by().only(*read_fields(model)))
    return _write(model, rows, only_new=True)


def enrich_one(kind: str, event_id: str) -> bool:
    """Enrich one event if it is not enriched yet. False when there was nothing to do."""
    return bool(enrich_many(kind, [event_id]))


def _locked_batch(queryset: QuerySet, size: int) -> list[Model]:
    # PostgreSQL: rows another worker holds are skipped, so several workers
    # sweeping at once share the work instead of waiting on each other.
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    return list(queryset.only(*read_fields(queryset.model))[:size])


def enrich_batches(
    queryset_for: Callable[[type[Open] | type[Click]], QuerySet],
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
                rows = _locked_batch(queryset, size)
                if not rows:
                    break
                # The rows are ours (locked on PostgreSQL); --all rewrites enriched ones too.
                _write(model, rows, only_new=False)
            last_pk = rows[-1].pk
            batches += 1
            done += len(rows)
            if progress:
                progress(len(rows))
    return done


def sweep(batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Enrich every event that is not enriched yet (the periodic safety net)."""
    return enrich_batches(lambda model: model.objects.filter(enriched_at__isnull=True),
                          batch_size=batch_size, max_batches=max_batches)


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
        keys = rollup.keys_of_messages(ids)
        with transaction.atomic():
            transaction.on_commit(lambda keys=keys: rollup.mark(keys))
            for model in EVENT_MODELS:
                model.objects.filter(message_id__in=ids).delete()
            Message.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def iter_chunks(queryset: QuerySet, size: int) -> Iterator[list[Model]]:
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


def reclassify(
    *, batch_size: int | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Classify every stored event again with the current rules and ranges.

    Each message is judged over all of its events at once, ``batch_size``
    messages at a time: its opens from their requests, then its clicks from
    their requests and the message's whole history (``history``), the same
    rules every other path applies, so a run changes no verdict those paths
    gave and a second run changes nothing. Works from what was stored: where
    ``ANONYMIZE_IP`` truncated an address, the range lookups see the
    truncated one (exact for ranges of /24 and wider); an anonymous event
    (no consent) keeps its verdict unless a burst convicts it. Events whose
    verdict changes lose their enrichment and are enriched again by the
    sweep, so a proxy never keeps a reader's place. Returns counts: ``seen``,
    ``changed``, ``anonymised`` (rows with a truncated or no address).
    """
    size = batch_size or app_settings.BATCH_SIZE
    totals = {"seen": 0, "changed": 0, "anonymised": 0}
    fields = ("id", "message_id", "occurred_at", "source", "reason", "operator", "method",
              "ip", "user_agent", "anonymous", "enriched_at")
    for messages in iter_chunks(Message.objects.only("pk", "sent_at"), size):
        sent_at = {message.pk: message.sent_at for message in messages}
        opens = list(Open.objects.filter(message_id__in=sent_at).only(*fields))
        clicks = list(Click.objects.filter(message_id__in=sent_at).only(
            *fields, "honeypot", "url"))
        changed = []
        for event in opens:
            if _rejudge(event, _request_verdict(event, "open")):
                changed.append(event)
        # The clicks' history reads the opens as judged just now.
        judged = history.verdicts(clicks, opens, sent_at,
                                  base=lambda click: _request_verdict(click, "click"))
        for event in clicks:
            if event.pk in judged and _rejudge(event, judged[event.pk]):
                changed.append(event)
        for event in (*opens, *clicks):
            if not event.anonymous and (not event.ip or app_settings.ANONYMIZE_IP):
                totals["anonymised"] += 1
        for model in EVENT_MODELS:
            rows = [event for event in changed if type(event) is model]
            if rows:
                model.objects.bulk_update(rows, ["source", "reason", "operator", "enriched_at"])
        rollup.mark_messages_after_commit(event.message_id for event in changed)
        totals["seen"] += len(opens) + len(clicks)
        totals["changed"] += len(changed)
        if progress:
            progress(len(opens) + len(clicks))
    return totals


def _request_verdict(event: Open | Click, kind: str) -> Verdict:
    """What an event's stored request shows; an anonymous event keeps its stored verdict."""
    if event.anonymous:
        return Verdict(event.source, event.reason, event.operator)
    return classify(ip=event.ip, user_agent=event.user_agent, kind=kind, method=event.method,
                    **({"honeypot": event.honeypot} if kind == "click" else {}))


def _rejudge(event: Open | Click, verdict: Verdict) -> bool:
    """Give ``event`` the verdict; True when anything stored changes."""
    source, reason, operator = verdict.source, verdict.reason[:255], verdict.operator
    if event.anonymous:
        reason, operator = event.reason, event.operator  # "no consent" stays the reason
    if (source, reason, operator) == (event.source, event.reason, event.operator):
        return False
    if source != event.source:
        event.enriched_at = None  # masked or not may change: enrich again
    event.source, event.reason, event.operator = source, reason, operator
    return True
