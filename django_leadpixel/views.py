"""The public endpoints: the pixel, the click redirect, tracked images and documents.

Thin on purpose: verify the token, hand the hit to ``ingest.record.record``, answer.
Both endpoints answer correctly whatever else is down: a bad pixel token still
gets the GIF (a broken image helps no one), a bad click token gets a plain 404
and never a redirect to an unsigned place.
"""

from __future__ import annotations

import base64
import logging

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseNotFound,
    HttpResponseNotModified,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import tokens
from .conf import app_settings
from .documents import files, images
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
    _record(request, "click", target.message_id, consent=target.consent, url=target.destination,
            position=target.position, honeypot=target.honeypot)
    response = HttpResponseRedirect(target.destination)
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- tracked images and documents ---------------------------------------------------


@csrf_exempt
@require_safe
def image(request: HttpRequest, token: str, slug: str = "", ext: str = "") -> HttpResponseBase:
    """A tracked image: records an ``Open`` naming it, answers its bytes.

    The slug and extension are for readers and filters; only the token says
    which image. A bad token, or a path not found inside the image roots,
    answers 404 (never another image).
    """
    try:
        target = tokens.read_image(token)
    except tokens.BadToken:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    found = images.find_image(target.path)
    if found is None:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    _record(request, "open", target.message_id, consent=target.consent, image=target.path)
    response: HttpResponseBase
    if found.etag in {tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")}:
        response = HttpResponseNotModified()
    elif request.method == "HEAD":
        response = HttpResponse(content_type=found.content_type)
        response["Content-Length"] = str(found.size)
    else:
        response = FileResponse(open(found.path, "rb"), content_type=found.content_type)  # noqa: SIM115
        response["Content-Length"] = str(found.size)
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    response["ETag"] = found.etag
    response["Last-Modified"] = found.last_modified
    response["X-Content-Type-Options"] = "nosniff"
    return response


@csrf_exempt
@require_safe
def download(request: HttpRequest, token: str, slug: str = "", ext: str = "") -> HttpResponseBase:
    """A tracked document: records a ``Download`` (once per download: later byte
    ranges continue it), then streams the file or redirects to it. A deleted
    document answers 410 and the download is still recorded."""
    try:
        target = tokens.read_download(token)
    except tokens.BadToken:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    try:
        snapshot = files.lookup(target.document_id)
    except files.Unavailable:
        snapshot = None
        unavailable = True
    else:
        unavailable = False
    if files.counts_as_download(request):
        _record(request, "download", target.message_id, consent=target.consent,
                document_id=target.document_id)
    if unavailable:
        response = HttpResponse("The document is briefly unavailable; please try again.",
                                status=503, content_type="text/plain")
        response["Retry-After"] = "30"
        return response
    if snapshot is None:
        return files.gone()
    return files.serve(request, snapshot)
