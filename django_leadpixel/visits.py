"""Visits on the sender's own site: the decisions, apart from storing anything.

Which click destinations carry the signed visitor value, whether the browser
asks not to be tracked (``Sec-GPC: 1``), the host a visit came from, and
whether a page view repeats one made a moment ago. The click view, the beacon
and ``VisitMiddleware`` ask these; ``ingest.record.record_view`` stores what
they let through.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from urllib.parse import urlsplit

from django.core.cache import cache
from django.http import HttpRequest

from . import tokens
from .conf import app_settings

logger = logging.getLogger("django_leadpixel")

MAX_VISIT_PATH = 2000


def gpc_refused(request: HttpRequest) -> bool:
    """Whether the browser asks not to be tracked (``Sec-GPC: 1``) and we honour it."""
    return app_settings.VISIT_RESPECT_GPC and request.META.get("HTTP_SEC_GPC", "").strip() == "1"


def visit_destination(request: HttpRequest, target: tokens.ClickTarget, click_id: uuid.UUID) -> str:
    """The click's destination, tagged with the signed visitor value when it is one of
    the sender's own hosts (``VISIT_HOSTS``), the message has tracking consent and the
    browser does not send ``Sec-GPC: 1``. Any other destination is left as signed."""
    hosts = app_settings.VISIT_HOSTS
    if not hosts or not target.consent or target.honeypot or gpc_refused(request) \
            or not tokens.visit_host(target.destination, hosts):
        return target.destination
    value = tokens.make_visitor(target.message_id, click_id)
    return tokens.tag_destination(target.destination, app_settings.VISIT_PARAM, value)


def host_of(url: str) -> str:
    """The host name of a URL (a referrer), lowercased; empty when there is none."""
    try:
        return (urlsplit(url or "").hostname or "")[:255]
    except ValueError:
        return ""


def page_path(path: str) -> str:
    """A visited page's path as stored: ``/`` when empty, cut to ``MAX_VISIT_PATH``."""
    return (path or "/")[:MAX_VISIT_PATH]


def first_view(visitor: tokens.Visitor, path: str) -> bool:
    """False when this visitor viewed ``path`` within ``VISIT_REPEAT_SECONDS`` (Django's
    cache remembers; a cache that fails counts the view, and the ingest's own
    ``REPEAT_WINDOW`` still folds an identical hit into the stored one)."""
    seconds = app_settings.VISIT_REPEAT_SECONDS
    if not seconds:
        return True
    digest = hashlib.sha256(path.encode("utf-8", "replace")).hexdigest()[:24]
    try:
        return bool(cache.add(f"leadpixel:visit:{visitor.click_id.hex}:{digest}", 1, timeout=seconds))
    except Exception:  # noqa: BLE001 - a cache that is down must not lose the visit
        logger.warning("leadpixel: the cache did not answer; visit counted", exc_info=True)
        return True
