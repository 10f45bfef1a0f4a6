"""The public endpoints: the pixel, the click redirect, tracked images and documents,
and the visit beacon.

Thin on purpose: verify the token, hand the hit to ``ingest.record``, answer.
Both endpoints answer correctly whatever else is down: a bad pixel token still
gets the GIF (a broken image helps no one), a bad click token gets a plain 404
and never a redirect to an unsigned place.
"""

from __future__ import annotations

import base64
import logging
import uuid
from urllib.parse import urlsplit

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
    HttpResponseNotModified,
    HttpResponseRedirect,
    QueryDict,
)
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from . import tokens
from .conf import app_settings
from .documents import files, images
from .ingest.record import record_request, record_view
from .visits import gpc_refused, visit_destination

logger = logging.getLogger("django_leadpixel")

# The classic 43-byte 1x1 GIF89a: a two-colour palette and a graphic control
# extension that makes colour 0 transparent.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

NO_CACHE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}


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
    record_request(request, "open", target.message_id, consent=target.consent)
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
    record_request(request, "click", target.message_id, consent=target.consent,
                   url=target.destination, position=target.position, honeypot=target.honeypot,
                   id=click_id)
    response = HttpResponseRedirect(visit_destination(request, target, click_id))
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
    try:
        found = images.find_image(target.path)
    except Exception:  # noqa: BLE001 - a storage that fails answers 404, never 500
        logger.exception("leadpixel: finding tracked image %r failed", target.path)
        found = None
    if found is None:
        return HttpResponseNotFound("Not found", content_type="text/plain")
    record_request(request, "open", target.message_id, consent=target.consent, image=target.path)
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
        record_request(request, "download", target.message_id, consent=target.consent,
                       document_id=target.document_id)
    if unavailable:
        response = HttpResponse("The document is briefly unavailable; please try again.",
                                status=503, content_type="text/plain")
        response["Retry-After"] = "30"
        return response
    if snapshot is None:
        return files.gone()
    return files.serve(request, snapshot)


# --- visits on the sender's own site ------------------------------------------------

MAX_BEACON_BODY = 8192


def _beacon_data(request: HttpRequest) -> QueryDict:
    if request.method != "POST":
        return request.GET
    if request.POST:
        return request.POST
    # navigator.sendBeacon() with a string sends text/plain: read it as a form.
    body = request.body[:MAX_BEACON_BODY]
    return QueryDict(body.decode("utf-8", "replace"))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def beacon(request: HttpRequest) -> HttpResponse:
    """A page view reported by a site that is not Django: ``lp`` (the visitor value the
    page saw), ``url`` (the page, on one of ``VISIT_HOSTS``), ``ref`` (its referrer).

    204 when understood (recorded, counted once, or refused by ``Sec-GPC: 1``);
    400 for a missing or forged visitor value or a page elsewhere. Never 500.
    """
    data = _beacon_data(request)
    try:
        visitor = tokens.read_visitor(data.get(app_settings.VISIT_PARAM, ""))
    except tokens.BadToken:
        return HttpResponseBadRequest("Bad visitor value", content_type="text/plain")
    url = data.get("url", "") or "/"
    try:
        parts = urlsplit(url)
    except ValueError:
        return HttpResponseBadRequest("Bad page address", content_type="text/plain")
    if parts.netloc and not tokens.visit_host(url, app_settings.VISIT_HOSTS):
        return HttpResponseBadRequest("Page not on a VISIT_HOSTS host", content_type="text/plain")
    if not gpc_refused(request):
        record_view(request, visitor, parts.path or "/", data.get("ref", ""))
    response = HttpResponse(status=204)
    response["Cache-Control"] = NO_CACHE_HEADERS["Cache-Control"]
    return response
