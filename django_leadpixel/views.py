"""The two public endpoints: the pixel and the click redirect.

Thin on purpose: verify the token, hand the hit to ``recording.record``, answer.
Both endpoints answer correctly whatever else is down: a bad pixel token still
gets the GIF (a broken image helps no one), a bad click token gets a plain 404
and never a redirect to an unsigned place.
"""

from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import tokens
from .conf import app_settings
from .recording import Hit, record

# The classic 43-byte 1x1 GIF89a: a two-colour palette and a graphic control
# extension that makes colour 0 transparent.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

NO_CACHE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}


def _hit(request: HttpRequest, kind: str, message_id, **extra) -> Hit:
    ip, user_agent = app_settings.REQUEST_INFO_FUNCTION(request)
    purpose = request.META.get("HTTP_SEC_PURPOSE") or request.META.get("HTTP_PURPOSE") or ""
    return Hit(kind=kind, message_id=message_id, ip=ip, user_agent=user_agent,
               method=request.method or "GET", purpose=purpose[:32], **extra)


def _gif() -> HttpResponse:
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    return response


@csrf_exempt
@require_safe
def pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        message_id = tokens.read_open_token(token)
    except tokens.BadToken:
        return _gif()
    record(_hit(request, "open", message_id), request)
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
    record(
        _hit(request, "click", target.message_id, url=target.destination,
             position=target.position, honeypot=target.honeypot),
        request,
    )
    response = HttpResponseRedirect(target.destination)
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    response["Referrer-Policy"] = "no-referrer"
    return response
