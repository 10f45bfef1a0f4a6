"""Record opens and clicks: the service layer the views, the replay command and
the tasks share.

The request path does at most a handful of indexed queries: read the message,
read the history facts the classifier needs, insert one row. When the
database fails, the event goes to the spool (one JSON line) instead, and
``manage.py leadpixel_replay`` stores it later, idempotently by event id.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import signals
from .classify import BURST_MIN_OTHERS, Verdict, classify
from .conf import app_settings
from .enrichment import anonymize_ip
from .models import Click, Message, Open

logger = logging.getLogger("django_leadpixel")
spool_logger = logging.getLogger("django_leadpixel.spool")

# Clicks of one message closer together than this are a burst: a person does
# not click several links of one email within a second, a link scanner does.
BURST_WINDOW = timedelta(seconds=1)


@dataclass
class Hit:
    """What one tracking request saw, before it is stored."""

    kind: str  # "open" or "click"
    message_id: uuid.UUID  # the message's public id
    ip: str | None = None  # full address, used in memory for classification only
    user_agent: str = ""
    method: str = "GET"
    purpose: str = ""
    url: str = ""
    position: int = 0
    honeypot: bool = False
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)

    def __post_init__(self) -> None:
        self.user_agent = (self.user_agent or "")[: app_settings.USER_AGENT_MAX_LENGTH]


@dataclass(frozen=True)
class Facts:
    seconds_since_sent: float | None = None
    burst: int = 0
    opened_from_network: bool | None = None


def _network_prefix(ip: str | None) -> str | None:
    # IPv4 /24 as a text prefix; anonymised opens (x.y.z.0) still match.
    if ip and "." in ip and ":" not in ip:
        return ip.rsplit(".", 1)[0] + "."
    return None


def history_facts(hit: Hit, message: Message) -> Facts:
    """The facts about earlier hits that ``classify`` needs (indexed queries)."""
    seconds = (hit.occurred_at - message.sent_at).total_seconds()
    if hit.kind != "click":
        return Facts(seconds_since_sent=seconds)
    # Other LINKS, not other requests: a person double-clicking one link is no burst.
    burst = (
        Click.objects.filter(
            message=message,
            occurred_at__gte=hit.occurred_at - BURST_WINDOW,
            occurred_at__lte=hit.occurred_at + BURST_WINDOW,
        )
        .exclude(position=hit.position)
        .values("position")
        .distinct()
        .count()
    )
    prefix = _network_prefix(hit.ip)
    opened = None
    if prefix:
        opened = Open.objects.filter(message=message, ip__startswith=prefix).exists()
    return Facts(seconds_since_sent=seconds, burst=burst, opened_from_network=opened)


def verdict_for(hit: Hit, facts: Facts = Facts()) -> Verdict:
    return classify(
        ip=hit.ip,
        user_agent=hit.user_agent,
        kind=hit.kind,
        method=hit.method,
        purpose=hit.purpose,
        honeypot=hit.honeypot,
        **asdict(facts),
    )


def build_event(hit: Hit, message: Message, verdict: Verdict) -> Open | Click:
    """The row to store, with the privacy rules applied."""
    model = Open if hit.kind == "open" else Click
    event = model(
        id=hit.id,
        message=message,
        occurred_at=hit.occurred_at,
        source=verdict.source,
        reason=verdict.reason[:255],
        operator=verdict.operator,
        method=hit.method[:8],
    )
    if message.tracking_consent:
        event.ip = anonymize_ip(hit.ip) if app_settings.ANONYMIZE_IP else hit.ip
        event.user_agent = hit.user_agent
    else:
        event.anonymous = True
        event.reason = "Stored anonymously: no tracking consent."
    if isinstance(event, Click):
        event.url = hit.url
        event.position = hit.position
        event.honeypot = hit.honeypot
    return event


def _mark_burst(event: Click) -> None:
    """A burst found now also convicts the earlier clicks in it."""
    Click.objects.filter(
        message_id=event.message_id,
        occurred_at__gte=event.occurred_at - BURST_WINDOW,
        occurred_at__lte=event.occurred_at + BURST_WINDOW,
        source__in=("human", "unknown"),
    ).exclude(pk=event.pk).update(
        source="scanner",
        reason="Several links of this message clicked within a second (link scanner burst).",
    )


def _store(event: Open | Click, facts: Facts = Facts()) -> bool:
    """Insert ``event``; False when a row with its id exists already."""
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            if event.source == "scanner" and facts.burst >= BURST_MIN_OTHERS:
                _mark_burst(event)
    except IntegrityError:
        if type(event).objects.filter(pk=event.pk).exists():
            return False
        raise
    transaction.on_commit(lambda: _enqueue_enrichment(event))
    return True


def _enqueue_enrichment(event: Open | Click) -> None:
    if app_settings.ENRICH_ON_RECORD:
        from .tasks import enqueue_enrichment

        enqueue_enrichment(event)


def _send_signal(event: Open | Click, request) -> None:
    signal = signals.open_recorded if isinstance(event, Open) else signals.click_recorded
    signal.send(sender=type(event), event=event, request=request)


def record(hit: Hit, request=None) -> Open | Click | None:
    """Classify and store one hit. Never raises on database failure: spools instead.

    Returns the stored event, or None when the message no longer exists
    (purged or erased: the token outlives it) or the hit was spooled.
    """
    try:
        message = (
            Message.objects.only("pk", "sent_at", "tracking_consent")
            .filter(public_id=hit.message_id)
            .first()
        )
        if message is None:
            return None
        facts = history_facts(hit, message)
        event = build_event(hit, message, verdict_for(hit, facts))
        stored = _store(event, facts)
    except DatabaseError:
        logger.exception("leadpixel: database write failed, %s %s spooled", hit.kind, hit.id)
        spool(hit, verdict_for(hit))
        return None
    if stored:
        _send_signal(event, request)
    return event


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
    """Write ``hit`` as one JSON line. The address is stored as storage would keep it."""
    ip = anonymize_ip(hit.ip) if app_settings.ANONYMIZE_IP else hit.ip
    line = {
        "v": 1,
        "kind": hit.kind,
        "id": str(hit.id),
        "message": str(hit.message_id),
        "occurred_at": hit.occurred_at.isoformat(),
        "ip": ip,
        "user_agent": hit.user_agent,
        "method": hit.method,
        "source": verdict.source,
        "reason": verdict.reason,
        "operator": verdict.operator,
    }
    if hit.kind == "click":
        line.update(url=hit.url, position=hit.position, honeypot=hit.honeypot)
    try:
        _spool_logger().info(json.dumps(line, ensure_ascii=True, separators=(",", ":")))
    except Exception:  # noqa: BLE001 - the spool is the last resort; never fail the response
        logger.exception("leadpixel: could not spool %s %s", hit.kind, hit.id)


class SpoolLineError(ValueError):
    pass


def replay_line(line: str) -> str:
    """Store one spooled event. Returns "stored", "duplicate" or "orphan".

    Raises ``SpoolLineError`` for a line that is not a spooled event.
    """
    try:
        data = json.loads(line)
        kind = data["kind"]
        if kind not in ("open", "click"):
            raise ValueError(f"unknown kind {kind!r}")
        occurred_at = parse_datetime(data["occurred_at"])
        if occurred_at is None:
            raise ValueError("bad occurred_at")
        hit = Hit(
            kind=kind,
            message_id=uuid.UUID(data["message"]),
            id=uuid.UUID(data["id"]),
            occurred_at=occurred_at,
            ip=data.get("ip"),
            user_agent=data.get("user_agent", ""),
            method=data.get("method", "GET"),
            url=data.get("url", ""),
            position=int(data.get("position", 0)),
            honeypot=bool(data.get("honeypot", False)),
        )
        verdict = Verdict(
            source=data["source"], reason=data.get("reason", ""), operator=data.get("operator", "")
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SpoolLineError(str(exc)) from exc
    model = Open if kind == "open" else Click
    if model.objects.filter(pk=hit.id).exists():
        return "duplicate"
    message = Message.objects.filter(public_id=hit.message_id).first()
    if message is None:
        return "orphan"
    event = build_event(hit, message, verdict)
    # The address in the spool is already what storage keeps.
    if message.tracking_consent:
        event.ip = hit.ip
    if not _store(event):
        return "duplicate"
    _send_signal(event, None)
    return "stored"
