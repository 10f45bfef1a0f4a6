"""What is stored of a hit, and what is announced once it is stored.

The privacy rules (``ANONYMIZE_IP``, tracking consent) are applied here, for
every path: the request's one statement, the ORM fallback and the bulk store.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction

from .. import addresses, signals
from ..classify import Verdict
from ..conf import app_settings
from ..models import KIND_FIELDS, KINDS, Click, Download, Event, Message, Open, Visit
from .hits import Hit

logger = logging.getLogger("django_leadpixel")

ANONYMOUS_REASON = "Stored anonymously: no tracking consent."


def stored_fields(hit: Hit, verdict: Verdict, consent: bool) -> dict[str, Any]:
    """What is stored of ``hit``, with the privacy rules applied (no message yet)."""
    fields = {"id": hit.id, "occurred_at": hit.occurred_at, "source": verdict.source,
              "reason": verdict.reason[:255], "operator": verdict.operator,
              "method": hit.method[:8]}
    if consent:
        fields.update(ip=addresses.anonymize(hit.ip) if app_settings.ANONYMIZE_IP else hit.ip,
                      user_agent=hit.user_agent, anonymous=False)
    else:
        fields.update(ip=None, user_agent="", anonymous=True, reason=ANONYMOUS_REASON)
    fields.update({name: getattr(hit, name) for name in KIND_FIELDS[hit.kind]})
    return fields


def build_event(hit: Hit, message: Message, verdict: Verdict) -> Open | Click | Download | Visit:
    """The row to store, with the privacy rules applied."""
    return KINDS[hit.kind](message=message, **stored_fields(hit, verdict, message.tracking_consent))


# The signal each kind's stored events are announced by.
RECORDED_SIGNALS = {"open": signals.open_recorded, "click": signals.click_recorded,
                    "download": signals.download_recorded, "visit": signals.visit_recorded}


def signal_for(model: type[Event]):
    return RECORDED_SIGNALS[str(model._meta.model_name)]


def send_recorded(event: Event, request) -> None:
    """Send the kind's ``*_recorded`` signal (``RECORDED_SIGNALS``) for a stored event.

    ``send_robust``: a receiver's bug must not turn a stored event into a 500
    (or, for the pixel, into a broken image). It is logged instead.
    """
    signal = signal_for(type(event))
    for receiver, result in signal.send_robust(sender=type(event), event=event, request=request):
        if isinstance(result, Exception):
            logger.error("leadpixel: %s receiver %r failed", type(event).__name__, receiver,
                         exc_info=result)


def announce_after_commit(kind: str, event_id: uuid.UUID) -> None:
    """Announce the stored event (``signals.events_stored``) once the transaction commits.

    ``apps.ready()`` connects the task that enriches it. ``robust``: in
    autocommit this runs at once, inside ``record()``'s guard, and a failing
    receiver must not spool a hit that is stored already.
    """
    if app_settings.ENRICH_ON_RECORD:
        # A lambda, not functools.partial: robust on_commit logs the callback's __qualname__.
        transaction.on_commit(lambda: signals.events_stored.send(
            sender=KINDS[kind], kind=kind, ids=[event_id]), robust=True)
