"""Record one open or click: the request path's service layer.

On PostgreSQL (and any database that returns rows from an INSERT) a hit is
one ``INSERT ... SELECT`` from its message row; elsewhere, read the message,
then insert one row. Either way the row carries what the request showed; what
the message's history adds to a click's verdict is judged when it is enriched
(``history.settle``, called by ``jobs``). When the
database fails, the hit goes to the spool (one JSON line, ``hits.to_line``)
instead, and ``manage.py leadpixel_replay`` stores it later with
``bulk.store_many``, idempotently by event id.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.handlers
import uuid
from datetime import timezone as dt_timezone
from typing import Any, NamedTuple

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import prepared, signals
from .classify import Verdict, classify
from .conf import app_settings
from .enrichment import anonymize_ip
from .hits import Hit, dumps, to_line
from .models import KINDS, Click, Message, Open

logger = logging.getLogger("django_leadpixel")
spool_logger = logging.getLogger("django_leadpixel.spool")

@functools.lru_cache(maxsize=8)
def _message_sql(alias: str) -> str:
    """The message of a hit (raw SQL built once: compiling the queryset costs more)."""
    q = connections[alias].ops.quote_name
    col = lambda name: q(Message._meta.get_field(name).column)  # noqa: E731
    return (f"SELECT {col('id')}, {col('sent_at')}, {col('tracking_consent')} "
            f"FROM {q(Message._meta.db_table)} WHERE {col('public_id')} = %s")


def message_for(hit: Hit) -> Message | None:
    """The message of ``hit``, in one query (None when it is gone)."""
    conn = transaction.get_connection()
    params = [Message._meta.get_field("public_id").get_db_prep_value(hit.message_id, conn)]
    with conn.cursor() as cursor:
        cursor.execute(_message_sql(conn.alias), params)
        row = cursor.fetchone()
    if row is None:
        return None
    sent_at = row[1]
    if isinstance(sent_at, str):
        sent_at = parse_datetime(sent_at)
    if timezone.is_naive(sent_at):  # SQLite stores UTC without an offset
        sent_at = timezone.make_aware(sent_at, dt_timezone.utc)
    message = Message(id=row[0], sent_at=sent_at, tracking_consent=bool(row[2]))
    message._state.adding = False
    return message


def verdict_for(hit: Hit) -> Verdict:
    """What the request shows (``history`` adds the message's other events later)."""
    return classify(ip=hit.ip, user_agent=hit.user_agent, kind=hit.kind, method=hit.method,
                    purpose=hit.purpose, honeypot=hit.honeypot)


ANONYMOUS_REASON = "Stored anonymously: no tracking consent."


def stored_fields(hit: Hit, verdict: Verdict, consent: bool) -> dict[str, Any]:
    """What is stored of ``hit``, with the privacy rules applied (no message yet)."""
    fields = {"id": hit.id, "occurred_at": hit.occurred_at, "source": verdict.source,
              "reason": verdict.reason[:255], "operator": verdict.operator,
              "method": hit.method[:8]}
    if consent:
        fields.update(ip=anonymize_ip(hit.ip) if app_settings.ANONYMIZE_IP else hit.ip,
                      user_agent=hit.user_agent, anonymous=False)
    else:
        fields.update(ip=None, user_agent="", anonymous=True, reason=ANONYMOUS_REASON)
    if hit.kind == "click":
        fields.update(url=hit.url, position=hit.position, honeypot=hit.honeypot)
    return fields


def build_event(hit: Hit, message: Message, verdict: Verdict) -> Open | Click:
    """The row to store, with the privacy rules applied."""
    return KINDS[hit.kind](message=message, **stored_fields(hit, verdict, message.tracking_consent))


def _store(event: Open | Click) -> bool:
    """Insert ``event``; False when a row with its id exists already."""
    try:
        with _savepoint_if_needed():
            _insert_row(event)
    except IntegrityError:
        if type(event).objects.filter(pk=event.pk).exists():
            return False
        raise
    # A lambda, not functools.partial: robust on_commit logs the callback's __qualname__.
    transaction.on_commit(lambda: _enqueue_enrichment(event._meta.model_name, event.pk),
                          robust=True)
    return True


class InsertPlan(NamedTuple):
    sql: str
    # One slot per parameter, in order: ``(field, None)`` takes the field's
    # value from the row to store, ``(None, value)`` is a constant.
    slots: list[tuple[Any, Any]]
    types: tuple[str, ...]  # each parameter's database type (for PREPARE)


@functools.lru_cache(maxsize=8)
def _insert_plan(kind: str, alias: str, from_message: bool = True) -> InsertPlan:
    """The INSERT of one event, built once per database and kind.

    The column list comes from the model, so it follows migrations; constants
    (enrichment columns, which start empty, and what is stored without
    consent) are written as literals, not parameters to adapt per request.
    ``from_message``: ``INSERT ... SELECT`` from the message row (by public
    id, the consent rules applied in SQL); else ``INSERT ... VALUES`` for a
    row whose message was read already (databases without RETURNING).
    """
    conn = connections[alias]
    quote = conn.ops.quote_name
    model = KINDS[kind]
    blank = Hit(kind=kind, message_id=uuid.UUID(int=0))
    dynamic = set(stored_fields(blank, Verdict("unknown", ""), True)) | {"message"}
    without_consent = stored_fields(blank, Verdict("unknown", ""), False)
    columns, values, slots, types = [], [], [], []

    def constant(f, value) -> str:
        value = f.get_db_prep_save(value, conn)
        literal = _literal(value, conn)
        if literal is None:
            slots.append((None, value))
            types.append(prepared.param_type(f, conn))
        return "%s" if literal is None else literal

    for f in model._meta.concrete_fields:
        columns.append(quote(f.column))
        if from_message and f.name == "message":
            values.append("m.id")
        elif from_message and f.name in CONSENT_FIELDS:
            slots.append((f, None))
            types.append(prepared.param_type(f, conn))
            otherwise = constant(f, without_consent[f.name])
            # The cast: PostgreSQL types a CASE of an untyped parameter as text.
            values.append(conn.ops.unification_cast_sql(f)
                          % f"CASE WHEN m.tracking_consent THEN %s ELSE {otherwise} END")
        elif f.name in dynamic:
            values.append("%s")
            slots.append((f, None))
            types.append(prepared.param_type(f, conn))
        else:
            values.append(constant(f, f.get_default()))
    insert = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "
    if from_message:
        types.append(prepared.param_type(Message._meta.get_field("public_id"), conn))
        return InsertPlan(insert + f"SELECT {', '.join(values)} FROM "
                          f"{quote(Message._meta.db_table)} m WHERE m.public_id = %s "
                          "RETURNING message_id, anonymous", slots, tuple(types))
    return InsertPlan(insert + f"VALUES ({', '.join(values)})", slots, tuple(types))


def _literal(value: Any, conn) -> str | None:
    """SQL for a constant (None when it must stay a parameter)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if conn.vendor == "postgresql":
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"
    if isinstance(value, str) and value.isprintable() and "%" not in value and "\\" not in value:
        return "'" + value.replace("'", "''") + "'"  # standard SQL; % would be a placeholder
    return None


def _params(slots: list[tuple[Any, Any]], row: dict[str, Any], conn) -> list[Any]:
    return [value if f is None else f.get_db_prep_save(row[f.attname], conn)
            for f, value in slots]


# Fields whose stored value depends on the message's tracking consent.
CONSENT_FIELDS = ("ip", "user_agent", "anonymous", "reason")


def _insert_hit(hit: Hit, verdict: Verdict) -> dict[str, Any] | None:
    """Store a hit in ONE statement: ``INSERT ... SELECT`` from the message row.

    The message is read by the INSERT itself, with the tracking-consent rules
    applied in SQL, so the request costs about what a bare ORM insert costs.
    ``verdict`` comes from the request alone; what history adds to a click's
    (a burst of links, a click at delivery time) is settled when the click is
    enriched, a moment later (``history.settle``). Returns the stored
    row's fields, or None when the message is gone or the hit was stored before.
    """
    conn = transaction.get_connection()
    plan = _insert_plan(hit.kind, conn.alias)
    stored = stored_fields(hit, verdict, True)
    params = _params(plan.slots, stored, conn)
    params.append(Message._meta.get_field("public_id").get_db_prep_value(hit.message_id, conn))
    try:
        with _savepoint_if_needed(conn), conn.cursor() as cursor:
            prepared.execute(conn, cursor, plan.sql, plan.types, params)
            row = cursor.fetchone()
    except IntegrityError:
        if KINDS[hit.kind].objects.filter(pk=hit.id).exists():
            return None  # stored before: writing it twice is a no-op
        raise
    if row is None:
        return None
    # robust: in autocommit this runs at once, inside record()'s guard, and a
    # failure there would spool a hit that is already stored.
    transaction.on_commit(lambda: _enqueue_enrichment(hit.kind, hit.id), robust=True)
    if row[1]:  # no consent: the SQL stored the anonymous values
        stored = stored_fields(hit, verdict, False)
    return {**stored, "message_id": row[0]}


def _savepoint_if_needed(conn=None):
    # Inside the project's own transaction (ATOMIC_REQUESTS) a savepoint keeps a
    # duplicate id from breaking it; in autocommit one statement is atomic alone.
    if (conn or transaction.get_connection()).in_atomic_block:
        return transaction.atomic()
    return contextlib.nullcontext()


def _insert_row(event: Open | Click) -> None:
    """``event.save(force_insert=True)`` through the prepared plan: same row, less CPU."""
    conn = transaction.get_connection()
    if isinstance(event, Open):  # opens normally take _insert_hit; this is the fallback
        event.save(force_insert=True)
        return
    plan = _insert_plan("click", conn.alias, from_message=False)
    with conn.cursor() as cursor:
        cursor.execute(plan.sql, _params(plan.slots, event.__dict__, conn))
    event._state.adding = False


def _enqueue_enrichment(kind: str, event_id: uuid.UUID) -> None:
    if app_settings.ENRICH_ON_RECORD:
        from .tasks import enqueue_enrichment

        enqueue_enrichment(kind, event_id)


def _signal(model: type[Open] | type[Click]):
    return signals.open_recorded if model is Open else signals.click_recorded


def _send_signal(event: Open | Click, request) -> None:
    # send_robust: a receiver's bug must not turn a stored event into a 500
    # (or, for the pixel, into a broken image). It is logged instead.
    signal = _signal(type(event))
    for receiver, result in signal.send_robust(sender=type(event), event=event, request=request):
        if isinstance(result, Exception):
            logger.error("leadpixel: %s receiver %r failed", type(event).__name__, receiver,
                         exc_info=result)


def record(hit: Hit, request=None) -> bool:
    """Classify and store one hit. Never raises on database failure: spools instead.

    True when the hit was stored now; False when the message no longer exists
    (purged or erased: the token outlives it), the hit was stored before or
    spooled, or it went to the ingest buffer (``INGEST = "redis"``; stored later
    by the ``ingest`` task). The ``*_recorded`` signals get the stored event.
    """
    model = KINDS[hit.kind]
    try:
        verdict = verdict_for(hit)  # what the request shows; history is added later
        if app_settings.INGEST == "redis":
            from . import buffer

            if buffer.push(hit, verdict):
                return False
        # One statement where the database returns rows from an INSERT; a
        # click's verdict from history (bursts, timing) is settled when it is
        # enriched (history.settle).
        if transaction.get_connection().features.can_return_columns_from_insert:
            row = _insert_hit(hit, verdict)
            if row is None:
                return False
            event = None
        else:
            message = message_for(hit)
            if message is None:
                return False
            event = build_event(hit, message, verdict)
            if not _store(event):
                return False
    except Exception as exc:  # noqa: BLE001 - nothing lost, whatever failed
        logger.exception("leadpixel: could not store %s %s, spooled", hit.kind, hit.id)
        spool(hit, _verdict_or_unknown(hit, exc))
        return False
    if _signal(model).has_listeners(model):
        if event is None:  # built only for receivers: the request path does without
            event = model(**row)
            event._state.adding = False
        _send_signal(event, request)
    return True


def _verdict_or_unknown(hit: Hit, exc: Exception) -> Verdict:
    # The database failed (the usual case): classify without history. If the
    # classifier itself failed, keep the hit anyway, unjudged.
    if isinstance(exc, DatabaseError):
        try:
            return verdict_for(hit)
        except Exception:  # noqa: BLE001
            logger.exception("leadpixel: classification failed for %s %s", hit.kind, hit.id)
    return Verdict("unknown", "Not classified: an internal error occurred (see the logs).")


# --- spool -----------------------------------------------------------------


def _spool_logger() -> logging.Logger:
    # Use the project's own handler when LOGGING configures one; otherwise a
    # WatchedFileHandler, which reopens the file after it is moved aside for replay.
    if not spool_logger.handlers:
        handler = logging.handlers.WatchedFileHandler(app_settings.SPOOL_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        spool_logger.addHandler(handler)
        spool_logger.setLevel(logging.INFO)
        spool_logger.propagate = False
    return spool_logger


def spool(hit: Hit, verdict: Verdict) -> None:
    """Write ``hit`` as one JSON line to the spool logger."""
    try:
        _spool_logger().info(dumps(to_line(hit, verdict)))
    except Exception:  # noqa: BLE001 - the spool is the last resort; never fail the response
        logger.exception("leadpixel: could not spool %s %s", hit.kind, hit.id)


