"""The two public endpoints: the pixel and the click redirect.

Thin on purpose: verify the token, hand the hit to ``ingest.record.record``, answer.
Both endpoints answer correctly whatever else is down: a bad pixel token still
gets the GIF (a broken image helps no one), a bad click token gets a plain 404
and never a redirect to an unsigned place.
"""

from __future__ import annotations

import base64
import logging
import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import tokens
from .conf import app_settings
from .ingest.hits import Hit
from .ingest.record import record

logger = logging.getLogger("django_leadpixel")

# The classic 43-byte 1x1 GIF89a: a two-colour palette and a graphic control
# extension that makes colour 0 transparent.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

NO_CACHE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}


def _record(request: HttpRequest, kind: str, message_id, *, consent: bool, **extra) -> None:
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
    record(Hit(kind=kind, message_id=message_id, ip=ip, user_agent=str(user_agent or ""),
               method=request.method or "GET", purpose=purpose[:32], consent=consent, **extra),
           request)


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


def _gif() -> HttpResponse:
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    return response


@csrf_exempt
@require_safe
def pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        target = tokens.read_open(token)
    except tokens.BadToken:
        return _gif()
    _record(request, "open", target.message_id, consent=target.consent)
    return _gif()


@csrf_exempt
@require_safe
def click(request: HttpRequest, token: str) -> HttpResponse:
    try:
        target = tokens.read_click_token(token)
    except tokens.BadToken:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    # HEAD is recorded too (classified as a machine: scanners check links with
    # HEAD), and answered with the same redirect.
    click_id = uuid.uuid4()
    _record(request, "click", target.message_id, consent=target.consent, url=target.destination,
            position=target.position, honeypot=target.honeypot, id=click_id)
    response = HttpResponseRedirect(visit_destination(request, target, click_id))
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    response["Referrer-Policy"] = "no-referrer"
    return response
