"""System checks: ``manage.py check`` names a wrong ``LEADPIXEL`` key or value."""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Info, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SETTING_NAME
from .enrichment import bundled_geolite2, geoip_path_setting, geoip_problem

_OPTIONAL_INT = (int, type(None))
_PATH = (str, type(None))  # os.PathLike accepted too, see _type_ok

# Expected types per key; values are checked further below where needed.
TYPES: dict[str, tuple[type, ...]] = {
    "BASE_URL": (str,),
    "GEOIP_PATH": _PATH,
    "GEOIP_CITY": (str,),
    "GEOIP_ASN": (str,),
    "ANONYMIZE_IP": (bool,),
    "RETENTION_DAYS": _OPTIONAL_INT,
    "USER_AGENT_MAX_LENGTH": (int,),
    "IP_PROXY_COUNT": _OPTIONAL_INT,
    "IP_PROXY_ORDER": (str,),
    "IP_TRUSTED_PROXIES": (list, tuple),
    "IP_META_PRECEDENCE_ORDER": (list, tuple, type(None)),
    "REQUEST_INFO_FUNCTION": (str,),
    "SPOOL_FILE": (str,),
    "ENRICH_ON_RECORD": (bool,),
    "BATCH_SIZE": (int,),
    "HONEYPOT_LINK": (bool,),
    "PREPARE_STATEMENTS": (bool,),
    "RANGES_DIR": _PATH,
    "INGEST": (str,),
    "INGEST_REDIS_URL": (str,),
    "INGEST_KEY": (str,),
    "INGEST_TIMEOUT": (int, float),
    "INGEST_MAX_LENGTH": (int,),
    "REPEAT_WINDOW": (int, float),
    "REQUEST_DB_TIMEOUT": (int, float, type(None)),
    "API_PERMISSION_CLASSES": (list, tuple),
    "EMAIL_BACKEND": (str,),
    "LINT_ON_SEND": (str,),
    "ESP_DEDUP_WINDOW": (int, float),
    "VISIT_HOSTS": (list, tuple),
    "VISIT_PARAM": (str,),
    "VISIT_COOKIE": (str,),
    "VISIT_COOKIE_AGE": (int,),
    "VISIT_STRIP_PARAM": (bool,),
    "VISIT_EXCLUDE": (list, tuple),
    "VISIT_REPEAT_SECONDS": (int, float),
    "VISIT_RESPECT_GPC": (bool,),
}
POSITIVE = {"RETENTION_DAYS", "USER_AGENT_MAX_LENGTH", "BATCH_SIZE", "IP_PROXY_COUNT",
            "INGEST_MAX_LENGTH", "VISIT_COOKIE_AGE"}


def _type_ok(key: str, value: Any) -> bool:
    import os

    if key in ("GEOIP_PATH", "RANGES_DIR", "SPOOL_FILE") and isinstance(value, os.PathLike):
        return True
    if isinstance(value, bool) and bool not in TYPES[key]:
        return False  # True is an int to Python, not a day count
    return isinstance(value, TYPES[key])


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list:
    user = getattr(settings, SETTING_NAME, {})
    if not isinstance(user, dict):
        return [Error(f"{SETTING_NAME} must be a dict, not {type(user).__name__}.",
                      hint=f'Write {SETTING_NAME} = {{"BASE_URL": "https://mail.example.com"}}.',
                      id="leadpixel.E001")]
    errors: list = []
    for key in user:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(DEFAULTS)}."
            errors.append(Error(f"Unknown key {key!r} in {SETTING_NAME}.", hint=hint,
                                id="leadpixel.E002"))
    for key, value in user.items():
        if key in TYPES and not _type_ok(key, value):
            errors.append(Error(
                f"{SETTING_NAME}[{key!r}] must be {_names(TYPES[key])}, "
                f"not {type(value).__name__} ({value!r}).",
                hint=f"The default is {DEFAULTS[key]!r}; see the README's settings table.",
                id="leadpixel.E003"))
        elif key in POSITIVE and value is not None and value < 1:
            errors.append(Error(f"{SETTING_NAME}[{key!r}] must be a positive number, not {value}.",
                                id="leadpixel.E004"))
        elif key == "REPEAT_WINDOW" and not 0 <= value <= 86400:
            errors.append(Error(f"{SETTING_NAME}['REPEAT_WINDOW'] must be between 0 (store "
                                f"every hit) and 86400 seconds, not {value}.",
                                id="leadpixel.E004"))
    errors += _check_base_url(user.get("BASE_URL"))
    errors += _check_choices(user)
    func = user.get("REQUEST_INFO_FUNCTION")
    if isinstance(func, str):
        try:
            import_string(func)
        except ImportError as exc:
            errors.append(Error(f"{SETTING_NAME}['REQUEST_INFO_FUNCTION'] cannot be imported: {exc}",
                                hint="Give the dotted path of a function f(request) -> (ip, ua).",
                                id="leadpixel.E006"))
    permissions = user.get("API_PERMISSION_CLASSES")
    if isinstance(permissions, (list, tuple)) and not permissions:
        # DRF allows every request to a view without permission classes.
        errors.append(Error(
            f"{SETTING_NAME}['API_PERMISSION_CLASSES'] is empty: it would open the REST API "
            "to anonymous callers, so the API refuses every request instead.",
            hint='Leave the key out for Django\'s model permissions (the default), list the '
                 'classes you want, or write ["rest_framework.permissions.AllowAny"] to open '
                 "the API to everyone on purpose.",
            id="leadpixel.E010"))
    if isinstance(permissions, (list, tuple)):
        for path in (p for p in permissions if isinstance(p, str)):
            try:
                import_string(path)
            except ImportError as exc:
                errors.append(Error(
                    f"{SETTING_NAME}['API_PERMISSION_CLASSES'] entry {path!r} cannot be "
                    f"imported: {exc}",
                    hint='Give dotted paths of DRF permission classes, e.g. '
                         '["django_leadpixel.api.permissions.ModelPermissions"].',
                    id="leadpixel.E007"))
    return errors


CHOICES = {"INGEST": ("direct", "redis"), "IP_PROXY_ORDER": ("left-most", "right-most"),
           "LINT_ON_SEND": ("warn", "error", "off")}


def _check_choices(user: dict) -> list:
    errors = []
    for key, allowed in CHOICES.items():
        value = user.get(key)
        if key == "INGEST" and isinstance(value, str) and "." in value:
            try:  # the dotted path of a backend class of the project's own
                import_string(value)
            except ImportError as exc:
                errors.append(Error(f"{SETTING_NAME}['INGEST'] {value!r} cannot be imported: "
                                    f"{exc}", id="leadpixel.E008"))
            continue
        if isinstance(value, str) and value not in allowed:
            errors.append(Error(f"{SETTING_NAME}[{key!r}] must be one of {allowed}, not {value!r}.",
                                id="leadpixel.E008"))
    if user.get("INGEST") == "redis":
        try:
            import redis  # noqa: F401
        except ImportError:
            errors.append(Error(f'{SETTING_NAME}["INGEST"] = "redis" needs the redis package.',
                                hint="pip install django-leadpixel[redis]", id="leadpixel.E009"))
    return errors


def _check_base_url(value: Any) -> list:
    hint = 'Set the public origin emails link to, e.g. LEADPIXEL = {"BASE_URL": "https://mail.example.com"}.'
    if value is None or value == "":
        return [Error(f"{SETTING_NAME}['BASE_URL'] is not set: tracking URLs in emails must be "
                      "absolute, and emails are rendered without a request.",
                      hint=hint, id="leadpixel.E005")]
    if not isinstance(value, str):
        return []  # reported by the type check
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return [Error(f"{SETTING_NAME}['BASE_URL'] must be an absolute http(s) origin such as "
                      f"'https://mail.example.com', not {value!r}.", hint=hint, id="leadpixel.E005")]
    if parts.scheme == "http" and not settings.DEBUG:
        return [Warning(f"{SETTING_NAME}['BASE_URL'] uses plain http: {value!r}.",
                        hint="Use https so mail clients load the pixel without warnings.",
                        id="leadpixel.W002")]
    return []


@register(Tags.compatibility)
def check_geoip(app_configs=None, **kwargs) -> list:
    """A missing or corrupt GeoIP database is a warning: events are still stored,
    only their place stays empty (``geo_status`` says why)."""

    try:
        problem = geoip_problem()
        bundled = None if geoip_path_setting() else bundled_geolite2()
    except Exception as exc:  # noqa: BLE001 - a check must report, never crash
        problem, bundled = f"GeoIP databases could not be checked: {exc}", None
    if not problem:
        if bundled is None:
            return []
        return [Info(f"No GEOIP_PATH is set: places come from the GeoLite2 City database of the "
                     f"django-leadpixel[geolite2] extra ({bundled}), built by MaxMind on "
                     "2019-12-24.",
                     hint='For current places point LEADPIXEL["GEOIP_PATH"] at a database kept '
                          "fresh with geoipupdate.",
                     id="leadpixel.I001")]
    return [Warning(problem, hint='Point LEADPIXEL["GEOIP_PATH"] (or Django\'s GEOIP_PATH) at a '
                    "MaxMind City database (GeoLite2-City.mmdb), or install "
                    "django-leadpixel[geolite2]. Silence with "
                    'SILENCED_SYSTEM_CHECKS = ["leadpixel.W001"] if you want no places.',
                    id="leadpixel.W001")]


VISIT_MIDDLEWARE = "django_leadpixel.middleware.VisitMiddleware"


@register(Tags.compatibility)
def check_visits(app_configs=None, **kwargs) -> list:
    """``VISIT_HOSTS`` without ``VisitMiddleware`` in this project: worth a note, not a
    warning (the site behind those hosts may be another project reporting to the beacon)."""
    user = getattr(settings, SETTING_NAME, {})
    hosts = user.get("VISIT_HOSTS") if isinstance(user, dict) else None
    if not hosts or not isinstance(hosts, (list, tuple)) \
            or VISIT_MIDDLEWARE in (getattr(settings, "MIDDLEWARE", None) or ()):
        return []
    return [Info(f"{SETTING_NAME}['VISIT_HOSTS'] is set but {VISIT_MIDDLEWARE} is not in "
                 "MIDDLEWARE: clicks to those hosts carry the visitor value, and only the "
                 "beacon (t/v/) records visits.",
                 hint="Add the middleware to the Django site that serves those hosts; nothing "
                      "to do when that site is another project that reports to the beacon.",
                 id="leadpixel.I002")]


@register(Tags.compatibility)
def check_request_budget(app_configs=None, **kwargs) -> list:
    """The request path's time on the database: a positive ``REQUEST_DB_TIMEOUT``, and
    a connect timeout on every PostgreSQL database."""
    import os

    errors: list = []
    user = getattr(settings, SETTING_NAME, {})
    value = user.get("REQUEST_DB_TIMEOUT") if isinstance(user, dict) else None
    if _type_ok("REQUEST_DB_TIMEOUT", value) and value is not None and value <= 0:
        errors.append(Error(f"{SETTING_NAME}['REQUEST_DB_TIMEOUT'] must be a positive number of "
                            f"seconds or None, not {value}.", id="leadpixel.E004"))
    return errors + connect_timeout_warnings(getattr(settings, "DATABASES", {}), os.environ)


def connect_timeout_warnings(databases: dict, environ) -> list:
    """``leadpixel.W003`` for each PostgreSQL database without a connect timeout.

    No statement timeout bounds a connection attempt: a server that accepts
    connections and never answers would hold each pixel and click until the
    web server kills the worker, with the hit unsaved. ``PGCONNECT_TIMEOUT``
    in the environment is libpq's default for every connection.
    """
    if environ.get("PGCONNECT_TIMEOUT"):
        return []
    warnings = []
    for alias, database in databases.items():
        engine = str(database.get("ENGINE", ""))
        options = database.get("OPTIONS") or {}
        if ("postgresql" in engine or "postgis" in engine) and not options.get("connect_timeout"):
            warnings.append(Warning(
                f"DATABASES[{alias!r}] (PostgreSQL) has no OPTIONS['connect_timeout']: a database "
                "that accepts connections and never answers holds each pixel and click until "
                "the web server kills the worker, and the hit is lost.",
                hint=f'Set DATABASES[{alias!r}]["OPTIONS"]["connect_timeout"] = 3 (seconds). '
                     f'{SETTING_NAME}["REQUEST_DB_TIMEOUT"] bounds the statement, not the '
                     "connection.",
                id="leadpixel.W003"))
    return warnings
