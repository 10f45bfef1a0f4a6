"""Record one open or click: the request path's service.

``record`` classifies the hit from its request, hands it to the ingestion
backend chosen by ``LEADPIXEL["INGEST"]`` (in the style of django-axes's
handlers: ``"direct"``, ``"redis"``, or the dotted path of a class with the
same ``store(hit, verdict)``), and sends the ``*_recorded`` signals. Whatever
fails, the hit is spooled instead: the endpoints never answer 500 and
nothing is lost.
"""

from __future__ import annotations

import functools
import logging

from django.utils.module_loading import import_string

from ..classify import Verdict, classify
from ..conf import app_settings
from ..models import CLASSIFIED_AS, KINDS
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
    return classify(ip=hit.ip, user_agent=hit.user_agent, kind=CLASSIFIED_AS.get(hit.kind, hit.kind),
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
