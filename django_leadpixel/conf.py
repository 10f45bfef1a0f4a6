"""The ``LEADPIXEL`` settings dict, read through one lazy object.

Modelled on ``rest_framework.settings``: ``app_settings.BASE_URL`` returns the
user's value or the documented default; dotted-path strings listed in
``IMPORT_STRINGS`` are imported on first read; the cache is dropped when
``override_settings`` changes ``LEADPIXEL``. Validation lives in ``checks.py``
so that ``manage.py check`` names a wrong key or value.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

SETTING_NAME = "LEADPIXEL"

DEFAULTS: dict[str, Any] = {
    # Absolute origin used to build pixel and click URLs; emails are rendered
    # without a request, so there is no host to take it from.
    "BASE_URL": None,
    # File or directory of MaxMind databases; falls back to settings.GEOIP_PATH.
    "GEOIP_PATH": None,
    "GEOIP_CITY": "GeoLite2-City.mmdb",
    "GEOIP_ASN": "GeoLite2-ASN.mmdb",
    # Truncate IPs before storage (IPv4 last octet, IPv6 last 80 bits).
    "ANONYMIZE_IP": False,
    # Delete messages and their events older than this many days (None: keep).
    "RETENTION_DAYS": None,
    # User agents are cut to this many characters before storage.
    "USER_AGENT_MAX_LENGTH": 512,
    # Client IP via django-ipware: see README "Client IP behind proxies".
    "IP_PROXY_COUNT": None,
    "IP_PROXY_ORDER": "left-most",
    "IP_TRUSTED_PROXIES": [],
    "IP_META_PRECEDENCE_ORDER": None,
    # Dotted path to f(request) -> (ip or None, user agent); replaces ours.
    "REQUEST_INFO_FUNCTION": "django_leadpixel.request.request_info",
    # File the spool logger writes to when the database is down; used only
    # when the "django_leadpixel.spool" logger has no handler of its own.
    "SPOOL_FILE": "leadpixel-spool.jsonl",
    # Dispatch enrichment after commit (False: leave it to the periodic sweep).
    "ENRICH_ON_RECORD": True,
    # Seconds within which an identical hit of a message (same address, agent,
    # method and link: a replayed token, a double load) is counted on the
    # event's ``repeats`` instead of stored again. 0 stores every hit.
    "REPEAT_WINDOW": 60,
    # Rows per batch for sweeps, purges and reclassification.
    "BATCH_SIZE": 500,
    # Add a hidden honeypot link in {% track_links %} (scanners click it).
    "HONEYPOT_LINK": False,
    # "direct": each request writes its row. "redis": requests append to a Redis
    # list and the ``ingest`` task bulk-inserts it (falls back to direct).
    "INGEST": "direct",
    "INGEST_REDIS_URL": "redis://127.0.0.1:6379/0",
    "INGEST_KEY": "leadpixel:ingest",
    # Seconds a request waits on Redis before writing directly instead.
    "INGEST_TIMEOUT": 0.05,
    # Lines the Redis list may hold; past it a request writes directly (the
    # buffer never grows without bound while no drainer runs).
    "INGEST_MAX_LENGTH": 1_000_000,
    # PostgreSQL: prepare the request path's INSERT once per connection (False:
    # send it as text every time; see README "Prepared statements").
    "PREPARE_STATEMENTS": True,
    # Seconds the request path's statement may take on PostgreSQL (statement_timeout
    # and lock_timeout for that statement only); past it the hit is spooled. None: no
    # budget. Connecting is bounded by DATABASES OPTIONS["connect_timeout"] (check W003).
    "REQUEST_DB_TIMEOUT": 1.5,
    # Directory of IP range files that overrides the packaged ones.
    "RANGES_DIR": None,
    # REST API (django_leadpixel.api): dotted paths of the DRF permission classes
    # every endpoint requires, imported on first read. The default is Django's
    # model permissions, as in the admin: view_* to read, add_message to create
    # messages and sign links. Authentication is the host project's
    # REST_FRAMEWORK setting; throttling uses the scope "leadpixel".
    "API_PERMISSION_CLASSES": ["django_leadpixel.api.permissions.ModelPermissions"],
    # Sending (django_leadpixel.mail.TrackingBackend): the backend that really sends,
    # and what a lint error does before sending: "warn" (log), "error" (refuse to
    # send: mail.LintFailed), "off".
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "LINT_ON_SEND": "warn",
    # Seconds around an ESP's open or click (django-anymail) within which an event of
    # the same message and kind from our own pixel or redirect means the same one.
    "ESP_DEDUP_WINDOW": 120,
    # Tracked images ({% tracked_image %}) are served from these directories (or
    # storages with a local ``location``) only. None: the staticfiles finders'
    # locations and STATIC_ROOT.
    "IMAGE_ROOTS": None,
    # Tracked documents: redirect to the storage's own URL (S3 and similar sign
    # it and make it expire) instead of streaming the file through Django.
    "DOCUMENT_REDIRECT": False,
    # Visits on the sender's own site (README "From click to lead"). Hosts a click
    # may tag with the signed visitor parameter: exact names, or ".example.com"
    # for the domain and every subdomain. Empty: no click is ever tagged.
    "VISIT_HOSTS": [],
    # Name of the query parameter that carries the visitor value.
    "VISIT_PARAM": "lp",
    # The first-party cookie VisitMiddleware sets, and its lifetime in seconds.
    "VISIT_COOKIE": "leadpixel_visitor",
    "VISIT_COOKIE_AGE": 90 * 24 * 3600,
    # VisitMiddleware answers the tagged landing with one redirect to the same
    # address without the parameter (the cookie set on that redirect).
    "VISIT_STRIP_PARAM": True,
    # Path prefixes VisitMiddleware never records (static, media, the admin and
    # the tracking endpoints are skipped anyway).
    "VISIT_EXCLUDE": [],
    # Views of one path by one visitor within this many seconds count once.
    "VISIT_REPEAT_SECONDS": 60,
    # Honour the browser's Global Privacy Control (Sec-GPC: 1): no parameter,
    # cookie or visit. False only where the law and your policy allow it.
    "VISIT_RESPECT_GPC": True,
}

IMPORT_STRINGS = {"REQUEST_INFO_FUNCTION", "API_PERMISSION_CLASSES"}


class AppSettings:
    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        if attr in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        elif attr in IMPORT_STRINGS and isinstance(value, (list, tuple)):
            value = [import_string(v) if isinstance(v, str) else v for v in value]
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self) -> None:
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()


app_settings = AppSettings(DEFAULTS)


def _reload(*, setting: str, **kwargs: Any) -> None:
    # Modules that cache what they read from the settings (the GeoIP locator)
    # connect their own receivers to ``setting_changed``.
    if setting == SETTING_NAME:
        app_settings.reload()


setting_changed.connect(_reload)
