"""Opens and clicks reported by an ESP through django-anymail's ``tracking`` signal.

``apps.ready()`` connects ``receive`` to ``anymail.signals.tracking`` when
django-anymail is installed (extra ``[anymail]``). Only the documented fields
of anymail's normalized event are read: ``event_type``, ``event_id``,
``message_id``, ``timestamp``, ``recipient``, ``user_agent``, ``click_url``,
and ``esp_event`` for the ESP's own machine flags.

- **Message.** The ``Message`` whose ``esp_message_id`` is the event's
  ``message_id`` (``mail.TrackingBackend`` stores it from ``anymail_status``).
  Unknown ids are counted (``counts["unknown"]``) and logged at debug, never
  raised: the webhook answers 200, or the ESP retries for a day.
- **Classification.** The same rules as the pixel (``classify`` on the user
  agent the ESP saw; no address: ESPs do not give one in the documented
  fields), then the ESP's machine flag where its raw event has one: SendGrid's
  ``sg_machine_open``, Mailgun's ``client-info.bot``, Brevo's ``proxy_open``
  events. Postmark documents no such flag. The reason names what decided.
- **Idempotence.** The row's id is a UUID5 of the ESP name and the ESP's event
  id, or of a hash of the event's content when anymail gives no id (Postmark
  opens and clicks, Brevo): a retried webhook finds its row and stores nothing.
- **Deduplication.** An ESP event of a message is dropped when that message has
  an event of the same kind from our own pixel or redirect within
  ``LEADPIXEL["ESP_DEDUP_WINDOW"]`` seconds of it (clicks: of the same URL).
  ESP rows carry ``method = "ESP"``; when our pixel or redirect stores an
  event after the ESP's (``drop_duplicates``, on ``signals.events_stored``),
  the ESP's row within the window is deleted: our row knows more (address,
  place, device).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from ..classify import Verdict, classify
from ..conf import app_settings
from ..models import ESP_METHOD, KINDS, Message, ReportDirty, normal_esp_id
from .direct import store_event
from .events import build_event
from .hits import Hit, clean_text

logger = logging.getLogger("django_leadpixel.esp")

METHOD = ESP_METHOD  # Event.method of rows an ESP reported
NAMESPACE = uuid.UUID("1f0c7d52-8f0e-4b5e-9d4e-6a0e8f3b2c11")
EVENT_KINDS = {"opened": "open", "clicked": "click"}
URL = {"open": (), "click": ("url",)}  # what else must match for two events to be one
# What each run of ``receive`` did, by outcome (this process only; the log says it too).
counts: Counter[str] = Counter()


def event_uuid(esp_name: str, event: Any) -> uuid.UUID:
    """The row id of an ESP event: the same for every delivery of that event."""
    event_id = getattr(event, "event_id", None)
    if event_id:
        return uuid.uuid5(NAMESPACE, f"{esp_name}:id:{event_id}")
    content = {
        "type": event.event_type, "message": str(event.message_id),
        "time": event.timestamp.isoformat() if isinstance(event.timestamp, datetime) else None,
        "recipient": event.recipient, "agent": event.user_agent, "url": event.click_url,
        "raw": event.esp_event if isinstance(event.esp_event, (dict, list)) else None,
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return uuid.uuid5(NAMESPACE, f"{esp_name}:content:{digest}")


def esp_flag(esp_name: str, kind: str, raw: Any) -> Verdict | None:
    """The ESP's own machine flag in its raw event, as a verdict (None: no flag)."""
    if not isinstance(raw, dict):
        return None
    name = (esp_name or "").lower()
    if name == "sendgrid" and kind == "open" and raw.get("sg_machine_open") in (True, "true"):
        return Verdict("apple_mpp", "SendGrid: sg_machine_open is true (a machine open, "
                                    "such as Apple Mail Privacy Protection)", "Apple")
    if name == "mailgun":
        data = raw.get("event-data", raw)
        info = data.get("client-info") if isinstance(data, dict) else None
        bot = str(info.get("bot") or "").lower() if isinstance(info, dict) else ""
        if bot == "apple":
            return Verdict("apple_mpp", "Mailgun: client-info.bot is 'apple' (Apple Mail "
                                        "Privacy Protection)", "Apple")
        if bot == "gmail":
            return Verdict("google_proxy", "Mailgun: client-info.bot is 'gmail' (Gmail's "
                                           "image proxy)", "Google")
        if bot:
            return Verdict("bot", f"Mailgun: client-info.bot is {bot[:40]!r}")
    if name in ("brevo", "sendinblue") and str(raw.get("event", "")) in (
            "proxy_open", "unique_proxy_open"):
        return Verdict("apple_mpp", f"Brevo: event {raw['event']!r} (opened through a proxy "
                                    f"such as Apple Mail's)", "Apple")
    return None


def verdict_for(esp_name: str, kind: str, user_agent: str, raw: Any) -> Verdict:
    """The ESP's flag when it has one, else the pixel's rules on the agent it saw."""
    flag = esp_flag(esp_name, kind, raw)
    if flag is not None:
        return flag
    label = esp_name or "ESP"
    if not user_agent:
        return Verdict("unknown", f"Reported by {label} without a user agent")
    base = classify(ip=None, user_agent=user_agent, kind=kind)
    return Verdict(base.source, f"{base.reason} (reported by {label}, no machine flag)",
                   base.operator)


def window() -> timedelta:
    return timedelta(seconds=float(app_settings.ESP_DEDUP_WINDOW))


def seen_by_us(message: Message, kind: str, when: datetime, url: str) -> bool:
    """Whether our own pixel or redirect stored this open or click already."""
    rows = KINDS[kind].objects.filter(message=message, occurred_at__range=(
        when - window(), when + window())).exclude(method=METHOD)
    if kind == "click" and url:
        rows = rows.filter(url=url)
    return rows.exists()


def receive(sender: Any = None, event: Any = None, esp_name: str = "", **kwargs: Any) -> None:
    """Store an anymail ``opened`` or ``clicked`` event; never raises."""
    try:
        outcome = store(event, esp_name or "")
    except Exception:  # noqa: BLE001 - the webhook must answer 200 whatever happens here
        logger.exception("leadpixel: could not store the %s event from %s",
                         getattr(event, "event_type", "?"), esp_name)
        outcome = "failed"
    counts[outcome] += 1


def message_of(esp_id: str, recipient: Any) -> Message | None:
    """The message with that ESP id; should an ESP reuse an id across recipients, the
    one sent to the event's recipient."""
    candidates = list(Message.objects.filter(esp_message_id=esp_id).order_by("-pk")[:20])
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    address = str(recipient or "").strip().lower()
    return next((m for m in candidates if m.recipient.lower() == address), None)


def store(event: Any, esp_name: str) -> str:
    kind = EVENT_KINDS.get(str(getattr(event, "event_type", "")))
    if kind is None:
        return "ignored"
    esp_id = normal_esp_id(getattr(event, "message_id", None))
    message = message_of(esp_id, getattr(event, "recipient", None)) if esp_id else None
    if message is None:
        logger.debug("leadpixel: %s %s event for unknown message id %r", esp_name,
                     event.event_type, esp_id)
        return "unknown"
    when = event.timestamp if isinstance(event.timestamp, datetime) else timezone.now()
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt_timezone.utc)
    url = clean_text(getattr(event, "click_url", None) or "")
    if seen_by_us(message, kind, when, url):
        return "duplicate"
    user_agent = clean_text(getattr(event, "user_agent", None) or "")
    verdict = verdict_for(esp_name, kind, user_agent, getattr(event, "esp_event", None))
    hit = Hit(kind=kind, message_id=message.public_id, user_agent=user_agent, method=METHOD,
              url=url, id=event_uuid(esp_name, event), occurred_at=when,
              consent=message.tracking_consent)
    if not store_event(build_event(hit, message, verdict)):
        return "repeated"
    ReportDirty.objects.mark_messages_after_commit([message.pk])
    return "stored"


def drop_duplicates(sender: Any = None, kind: str = "", ids: Any = (), **kwargs: Any) -> None:
    """Delete ESP rows that our just-stored events (``ids`` of ``kind``) count already.

    One query when the ESP reported nothing of these messages (the usual case), two
    when it did.
    """
    if kind not in URL or not ids:  # ESPs report opens and clicks only
        return
    model = KINDS[kind]
    try:
        ours = model.objects.filter(pk__in=list(ids)).exclude(method=METHOD)
        theirs = list(model.objects.filter(method=METHOD, message__in=ours.values("message"))
                      .values_list("pk", "message_id", "occurred_at", *URL[kind]))
        if not theirs:
            return
        mine = list(ours.values_list("message_id", "occurred_at", *URL[kind]))
        doomed = [row[0] for row in theirs
                  if any(row[1] == own[0] and abs(row[2] - own[1]) <= window()
                         and row[3:] == own[2:] for own in mine)]
        if doomed:
            model.objects.filter(pk__in=doomed).delete()
    except DatabaseError:
        logger.exception("leadpixel: could not match ESP events against %d stored %ss",
                         len(ids), kind)
