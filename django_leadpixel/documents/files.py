"""Serving a tracked document: streamed with ``Range`` and ``HEAD``, or redirected.

The file is never read into memory: a full answer is a ``FileResponse`` over
the storage's file, a byte range a generator that reads 64 KiB at a time.
What a document is (its storage name, type, disposition) is kept in Django's
default cache after each read, so with the database down a document served
before is still served (``lookup``): per process with the default local-memory
cache, by every process with a shared one (Redis, Memcached).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.files.storage import Storage
from django.db import DatabaseError
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.html import format_html
from django.utils.http import content_disposition_header, http_date

from ..conf import app_settings
from ..models import Document

logger = logging.getLogger("django_leadpixel")

__all__ = ["Snapshot", "Unavailable", "lookup", "parse_range", "serve", "gone", "counts_as_download",
           "CHUNK_SIZE"]

CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class Snapshot:
    """What serving a document needs, read from its row (plain values: cacheable)."""

    public_id: uuid.UUID
    title: str
    filename: str
    name: str  # in storage; blank for an external URL
    url: str
    content_type: str
    disposition: str
    updated_at: Any

    @classmethod
    def of(cls, document: Document) -> Snapshot:
        return cls(document.public_id, document.title, document.filename,
                   (document.file.name or "") if document.file else "", document.url,
                   document.content_type or "application/octet-stream", document.disposition,
                   document.updated_at)

    @property
    def storage(self) -> Storage:
        return Document._meta.get_field("file").storage  # type: ignore[union-attr]


CACHE_PREFIX = "leadpixel:document:"
CACHE_SECONDS = 7 * 24 * 3600


def _cache_key(public_id: uuid.UUID) -> str:
    return f"{CACHE_PREFIX}{public_id.hex}"


class Unavailable(Exception):
    """The database is down and this process has not served the document before."""


def lookup(public_id: uuid.UUID) -> Snapshot | None:
    """The document (None: deleted). With the database down, the copy this process
    kept when it last served it; ``Unavailable`` when it has none."""
    try:
        document = Document.objects.filter(public_id=public_id).first()
    except DatabaseError:
        logger.warning("leadpixel: database down; serving document %s from the cache", public_id)
        known = _cached(public_id)
        if known is None:
            raise Unavailable(str(public_id)) from None
        return known
    snapshot = Snapshot.of(document) if document is not None else None
    try:
        if snapshot is None:
            cache.delete(_cache_key(public_id))
        elif _cached(public_id) != snapshot:
            cache.set(_cache_key(public_id), snapshot, CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - the cache is a convenience, never a failure
        logger.warning("leadpixel: could not cache document %s", public_id, exc_info=True)
    return snapshot


def _cached(public_id: uuid.UUID) -> Snapshot | None:
    try:
        value = cache.get(_cache_key(public_id))
    except Exception:  # noqa: BLE001 - a cache that is down knows nothing
        return None
    return value if isinstance(value, Snapshot) else None


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The one byte range ``header`` asks of ``size`` bytes, as (first, last) inclusive.

    None: no range (or one this answers with the whole file: several ranges, a
    malformed header, as RFC 9110 allows). False: unsatisfiable (416).
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:  # the last n bytes
        n = int(match[2])
        if n == 0 or size == 0:
            return False
        return max(size - n, 0), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


def counts_as_download(request: HttpRequest) -> bool:
    """Whether this request starts a download: no ``Range``, or one from byte 0.

    A viewer that fetches a PDF in pieces, or a download resumed, sends later
    ranges: those continue a download counted already.
    """
    header = request.META.get("HTTP_RANGE")
    if not header:
        return True
    match = _RANGE.match(header)
    return match is None or (match[1] != "" and int(match[1]) == 0)


def _read(handle, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        while length > 0:
            chunk = handle.read(min(CHUNK_SIZE, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


NO_CACHE = "private, no-cache, max-age=0"


def _headers(response: HttpResponse | StreamingHttpResponse, snapshot: Snapshot) -> None:
    response["Content-Type"] = snapshot.content_type
    response["Content-Disposition"] = content_disposition_header(
        snapshot.disposition != "inline", snapshot.filename) or "attachment"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = NO_CACHE
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"


def serve(request: HttpRequest, snapshot: Snapshot) -> HttpResponse | StreamingHttpResponse:
    """The answer for a document that exists: a redirect, a 200, a 206 or a 416."""
    if not snapshot.name:
        return _redirect(snapshot.url)
    storage = snapshot.storage
    if app_settings.DOCUMENT_REDIRECT:
        return _redirect(storage.url(snapshot.name))
    try:
        size = storage.size(snapshot.name)
    except (OSError, NotImplementedError):
        return gone(snapshot.title)
    wanted = parse_range(request.META.get("HTTP_RANGE"), size)
    modified = http_date(snapshot.updated_at.timestamp()) if snapshot.updated_at else None
    if wanted is False:
        response: HttpResponse | StreamingHttpResponse = HttpResponse(status=416)
        _headers(response, snapshot)
        response["Content-Range"] = f"bytes */{size}"
        return response
    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(last - first + 1, 0)
    try:
        if request.method == "HEAD":
            response = HttpResponse(status=206 if isinstance(wanted, tuple) else 200)
        elif isinstance(wanted, tuple):
            response = StreamingHttpResponse(
                _read(storage.open(snapshot.name, "rb"), first, length), status=206)
        else:
            response = FileResponse(storage.open(snapshot.name, "rb"))
            response.block_size = CHUNK_SIZE
    except OSError:  # removed from storage since its size was read
        return gone(snapshot.title)
    _headers(response, snapshot)
    response["Content-Length"] = str(length)
    if isinstance(wanted, tuple):
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    if modified is not None:
        response["Last-Modified"] = modified
    return response


def _redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = NO_CACHE
    response["Referrer-Policy"] = "no-referrer"
    return response


def gone(title: str = "") -> HttpResponse:
    """The 410 page of a document that was withdrawn."""
    body = format_html(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Document withdrawn</title>"
        "<h1>This document is no longer available</h1><p>{}</p></html>",
        f"{title} was withdrawn by its sender." if title else
        "The sender has withdrawn this document.")
    response = HttpResponse(body, status=410, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = NO_CACHE
    return response
