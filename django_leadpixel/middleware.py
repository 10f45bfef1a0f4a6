"""``VisitMiddleware``: visits on the sender's own Django site.

A click to one of ``LEADPIXEL["VISIT_HOSTS"]`` arrives with the signed visitor
value in ``?lp=`` (``tokens.make_visitor``). The middleware checks it, keeps
it in a first-party cookie (signed, ``HttpOnly``, ``Secure`` on https,
``SameSite=Lax``, ``VISIT_COOKIE_AGE``), answers one redirect that takes the
parameter out of the address bar (``VISIT_STRIP_PARAM``), and records a
``Visit`` for each HTML page the visitor then views (GET, 2xx, ``text/html``).

It never breaks or slows the page: recording goes through the same fail-open
path as the pixel (``ingest.record``: a direct write within the request
budget, the Redis buffer, or the spool), and any error inside is logged, not
raised. Nothing is set or stored when the browser sends ``Sec-GPC: 1``
(unless ``VISIT_RESPECT_GPC`` is False); visits of a message without tracking
consent are never stored (its clicks carry no visitor value either).

Add it after ``SessionMiddleware`` and ``CommonMiddleware``::

    MIDDLEWARE = [..., "django_leadpixel.middleware.VisitMiddleware"]
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse

from . import tokens
from .conf import app_settings
from .ingest.record import record_view
from .visits import gpc_refused

logger = logging.getLogger("django_leadpixel")

COOKIE_SALT = "django_leadpixel.middleware.visitor"


def skipped_prefixes() -> list[str]:
    """Paths never recorded: static files, media, the admin, the tracking endpoints,
    and ``VISIT_EXCLUDE``."""
    prefixes = [str(p) for p in app_settings.VISIT_EXCLUDE]
    for url in (getattr(settings, "STATIC_URL", None), getattr(settings, "MEDIA_URL", None)):
        if url and str(url).startswith("/"):
            prefixes.append(str(url))
        elif url and "://" not in str(url):
            prefixes.append("/" + str(url))
    for name, cut in (("admin:index", ""), ("leadpixel:beacon", "v/")):
        try:
            path = reverse(name)
        except NoReverseMatch:
            continue
        prefixes.append(path[: len(path) - len(cut)] if cut and path.endswith(cut) else path)
    return [p for p in prefixes if p and p != "/"]


def recordable(request: HttpRequest, response: HttpResponse) -> bool:
    """A page view: GET, 2xx, HTML."""
    if request.method != "GET" or not 200 <= response.status_code < 300:
        return False
    if not response.get("Content-Type", "").lower().startswith("text/html"):
        return False
    return True


def skipped(request: HttpRequest) -> bool:
    return any(request.path.startswith(prefix) for prefix in skipped_prefixes())


class VisitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if app_settings.VISIT_PARAM not in request.GET and app_settings.VISIT_COOKIE not in request.COOKIES:
            return self.get_response(request)  # most requests: nothing to read, nothing to do
        try:
            # Skipped paths are left alone: the beacon reads its own ``lp``.
            visitor, fresh = (None, False) if skipped(request) else self.visitor_of(request)
        except Exception:  # noqa: BLE001 - never break the page
            logger.exception("leadpixel: VisitMiddleware could not read the visitor")
            visitor, fresh = None, False
        if visitor is not None and fresh and app_settings.VISIT_STRIP_PARAM \
                and request.method in ("GET", "HEAD"):
            response: HttpResponse = HttpResponseRedirect(tokens.untag(
                request.path, request.META.get("QUERY_STRING", ""), app_settings.VISIT_PARAM))
            response["Cache-Control"] = "no-store"
            self.set_cookie(request, response, visitor)
            return response
        response = self.get_response(request)
        if visitor is None:
            return response
        try:
            if fresh:
                self.set_cookie(request, response, visitor)
            if recordable(request, response):
                record_view(request, visitor, request.path, request.META.get("HTTP_REFERER", ""))
        except Exception:  # noqa: BLE001 - never break the page
            logger.exception("leadpixel: VisitMiddleware could not record a visit")
        return response

    def visitor_of(self, request: HttpRequest) -> tuple[tokens.Visitor | None, bool]:
        """The visitor, and whether it came with this request's parameter (then the
        cookie is set). None under ``Sec-GPC: 1`` or without a valid value."""
        if gpc_refused(request):
            return None, False
        value = request.GET.get(app_settings.VISIT_PARAM)
        if value:
            try:
                return tokens.read_visitor(value), True
            except tokens.BadToken:
                pass  # a forged or damaged value: fall back on the cookie
        cookie = request.get_signed_cookie(app_settings.VISIT_COOKIE, default=None, salt=COOKIE_SALT,
                                           max_age=app_settings.VISIT_COOKIE_AGE)
        if not cookie:
            return None, False
        try:
            return tokens.read_visitor(cookie), False
        except tokens.BadToken:
            return None, False

    def set_cookie(self, request: HttpRequest, response: HttpResponse, visitor: tokens.Visitor) -> None:
        response.set_signed_cookie(
            app_settings.VISIT_COOKIE, tokens.make_visitor(visitor.message_id, visitor.click_id),
            salt=COOKIE_SALT, max_age=app_settings.VISIT_COOKIE_AGE, secure=request.is_secure(),
            httponly=True, samesite="Lax")
