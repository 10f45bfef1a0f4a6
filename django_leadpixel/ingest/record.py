"""Record one hit: the request path's service.

``record_request`` reads a tracking request into a ``Hit``: the endpoints and
``VisitMiddleware`` call it (``record_view`` for a page view). ``record``
classifies the hit from its request, hands it to the ingestion backend chosen
by ``LEADPIXEL["INGEST"]`` (in the style of django-axes's handlers:
``"direct"``, ``"redis"``, or the dotted path of a class with the same
``store(hit, verdict)``), and sends the ``*_recorded`` signals. Whatever
fails, the hit is spooled instead: the endpoints never answer 500 and
nothing is lost.
"""

from __future__ import annotations

import functools
import logging
import uuid

from django.http import HttpRequest
from django.utils.module_loading import import_string

from .. import visits
from ..classify import Verdict, classify
from ..conf import app_settings
from ..models import CLASSIFIED_AS, KINDS
from ..tokens import Visitor
from .buffer import RedisBackend
from .direct import DirectBackend
from .events import send_recorded, signal_for
from .hits import Hit
from .spool import spool

logger = logging.getLogger("django_leadpixel")

BACKENDS = {"direct": DirectBackend, "redis": RedisBackend}


@functools.lru_cache(maxsize=8)
def _backend_for(name: str):
    backend = BACKENDS.get(name) or import_string(name)
    return backend()


def backend():
    """The ingestion backend ``LEADPIXEL["INGEST"]`` names (one instance per name)."""
    return _backend_for(app_settings.INGEST)


def verdict_for(hit: Hit) -> Verdict:
    """What the request shows (``history`` adds the message's other events later)."""
    return classify(ip=hit.ip, user_agent=hit.user_agent, kind=CLASSIFIED_AS[hit.kind],
                    method=hit.method,
                    purpose=hit.purpose, honeypot=hit.honeypot)


def record(hit: Hit, request=None) -> bool:
    """Classify and store one hit. Never raises on database failure: spools instead.

    True when the hit was stored now; False when the message no longer exists
    (purged or erased: the token outlives it), the hit was stored before or
    spooled, or it went to the ingest buffer (``INGEST = "redis"``; stored later
    by the ``ingest`` task). The ``*_recorded`` signals get the stored event.
    """
    model = KINDS[hit.kind]
    verdict = None
    try:
        verdict = verdict_for(hit)  # what the request shows; history is added later
        if not hit.consent:
            hit.forget_person()
        stored = backend().store(hit, verdict)
    except Exception:  # noqa: BLE001 - nothing lost, whatever failed
        logger.exception("leadpixel: could not store %s %s, spooled", hit.kind, hit.id)
        if verdict is None:  # the classifier itself failed: keep the hit anyway, unjudged
            verdict = Verdict("unknown", "Not classified: an internal error occurred (see the logs).")
        if not hit.consent:
            hit.forget_person()
        spool(hit, verdict)
        return False
    if stored is None:
        return False
    if signal_for(model).has_listeners(model):
        event = stored
        if isinstance(stored, dict):  # built only for receivers: the request path does without
            event = model(**stored)
            event._state.adding = False
        send_recorded(event, request)
    return True


def record_request(request: HttpRequest, kind: str, message_id: uuid.UUID, *, consent: bool,
                   **extra) -> bool:
    """Record the hit of a tracking request: its address and agent
    (``REQUEST_INFO_FUNCTION``), method and prefetch header, and ``extra`` (the
    kind's own fields of ``Hit``). What ``record`` returns."""
    # record() stores or spools whatever fails inside it; this guard covers a
    # custom REQUEST_INFO_FUNCTION that raises: the hit is kept without an
    # address rather than lost, and the endpoint never answers 500.
    meta = request.META
    try:
        ip, user_agent = app_settings.REQUEST_INFO_FUNCTION(request)
    except Exception:  # noqa: BLE001
        logger.exception("leadpixel: REQUEST_INFO_FUNCTION failed; hit kept without an IP")
        ip, user_agent = None, meta.get("HTTP_USER_AGENT", "")
    purpose = meta.get("HTTP_SEC_PURPOSE") or meta.get("HTTP_PURPOSE") or ""
    return record(Hit(kind=kind, message_id=message_id, ip=ip, user_agent=str(user_agent or ""),
                      method=request.method or "GET", purpose=purpose[:32], consent=consent,
                      **extra), request)


def record_view(request: HttpRequest, visitor: Visitor, path: str, referrer: str = "") -> bool:
    """Record one page view by ``visitor`` (``VisitMiddleware`` and the beacon).

    Through the same fail-open path as opens and clicks: stored, buffered or
    spooled; stored only for a message with tracking consent. A repeat of a
    view made a moment ago is not recorded (``visits.first_view``). True when
    a visit was stored now.
    """
    path = visits.page_path(path)
    if not visits.first_view(visitor, path):
        return False
    return record_request(request, "visit", visitor.message_id, consent=True, path=path,
                          referrer_host=visits.host_of(referrer), click_id=visitor.click_id)
