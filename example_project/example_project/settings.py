"""Settings of the example site.

SQLite and an eager Celery by default, so ``manage.py demo`` runs with nothing
else installed. Environment variables switch to production-like parts:

- ``LEADPIXEL_DB=postgres`` (with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)
- ``SQLITE_PATH`` another SQLite file
- ``CELERY_BROKER_URL=redis://127.0.0.1:6379/0`` a real broker (tasks no longer eager)
- ``DJANGO_SECRET_KEY`` the key that signs tracking tokens (default: a random key
  made on first use in ``example_project/.secret-key``, never a key in the code)
- ``DJANGO_DEBUG=1`` Django's debug mode (off by default)
- ``LEADPIXEL_BASE_URL`` the origin put in emails (default http://127.0.0.1:8000)
- ``CELERY_RESULT_BACKEND`` where task results go (none by default)
- ``LEADPIXEL_SPOOL_FILE`` where events go when the database is down
- ``LEADPIXEL_GEOIP_PATH`` a MaxMind City database (file) or a folder of them
- ``LEADPIXEL_INGEST=redis`` buffered ingestion (with ``LEADPIXEL_INGEST_REDIS_URL``)
- ``LEADPIXEL_IP_PROXY_COUNT`` how many proxies append to X-Forwarded-For (none: the socket
  peer is the client and no forwarding header is believed)
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def _secret_key(path: Path) -> str:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


# Off unless asked for: DJANGO_DEBUG=1.
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
# The key signs every click token: a key anyone can read would let anyone make this
# site redirect anywhere. DJANGO_SECRET_KEY, or a random key made on first use and
# kept (readable by its owner only) beside the project, never a default in the code.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _secret_key(BASE_DIR / ".secret-key")
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc files for api/leadpixel/docs/ and redoc/
    "django_leadpixel",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Visits on the sender's own site (the demo's /shop/): README "From click to lead".
    "django_leadpixel.middleware.VisitMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("LEADPIXEL_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "leadpixel"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": 60,
            "OPTIONS": {"connect_timeout": 3},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
# Tracked documents uploaded in the admin (django_leadpixel.models.Document).
MEDIA_ROOT = os.environ.get("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LEADPIXEL = {
    "BASE_URL": os.environ.get("LEADPIXEL_BASE_URL", "http://127.0.0.1:8000"),
    "SPOOL_FILE": os.environ.get("LEADPIXEL_SPOOL_FILE", str(BASE_DIR / "leadpixel-spool.jsonl")),
}
# The example site is also the sender's shop (/shop/): clicks to its own host carry
# the signed visitor value that VisitMiddleware turns into visits.
LEADPIXEL["VISIT_HOSTS"] = [urlsplit(LEADPIXEL["BASE_URL"]).hostname or "127.0.0.1"]
if os.environ.get("LEADPIXEL_INGEST"):  # "redis": buffered ingestion (see the README)
    LEADPIXEL["INGEST"] = os.environ["LEADPIXEL_INGEST"]
    LEADPIXEL["INGEST_REDIS_URL"] = os.environ.get("LEADPIXEL_INGEST_REDIS_URL",
                                                   "redis://127.0.0.1:6379/0")
if os.environ.get("LEADPIXEL_REPEAT_WINDOW"):  # seconds; 0 stores every hit (benchmarks)
    LEADPIXEL["REPEAT_WINDOW"] = int(os.environ["LEADPIXEL_REPEAT_WINDOW"])
if os.environ.get("LEADPIXEL_IP_PROXY_COUNT"):  # e.g. 1 behind one nginx (see the README)
    LEADPIXEL["IP_PROXY_COUNT"] = int(os.environ["LEADPIXEL_IP_PROXY_COUNT"])
if os.environ.get("LEADPIXEL_GEOIP_PATH"):
    LEADPIXEL["GEOIP_PATH"] = os.environ["LEADPIXEL_GEOIP_PATH"]
else:
    try:  # the database the django-leadpixel[geolite2] extra installs (GeoLite2 City, 2019-12-24)
        import _geoip_geolite2

        LEADPIXEL["GEOIP_PATH"] = os.path.join(
            os.path.dirname(_geoip_geolite2.__file__), "GeoLite2-City.mmdb"
        )
    except ImportError:
        pass

# The REST API (api/leadpixel/, docs/api.md): Django's model permissions of the app
# (view_* to read, add_message to write), by the default
# LEADPIXEL["API_PERMISSION_CLASSES"]; the demo's admin is a superuser. Basic authentication lets curl and
# senders in any language call it; the session serves the browsable API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
if os.environ.get("LEADPIXEL_API_RATE"):  # e.g. "600/minute"; see docs/api.md "Throttling"
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["rest_framework.throttling.ScopedRateThrottle"]
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"leadpixel": os.environ["LEADPIXEL_API_RATE"]}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = "CELERY_BROKER_URL" not in os.environ
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2

# The ceiling views of benchmarks/pixel.py, mounted at /bench/ only when asked for.
if os.environ.get("LEADPIXEL_BENCH_VIEWS") == "1":
    INSTALLED_APPS.append("benchviews")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_leadpixel": {"handlers": ["console"], "level": "WARNING"}},
}

# Sending: every HTML email gets a Message, a pixel and tracked links per recipient
# (django_leadpixel.mail.TrackingBackend), then goes through LEADPIXEL["EMAIL_BACKEND"]:
# kept in memory for the demo; LEADPIXEL_EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
# prints them, an SMTP or django-anymail backend really sends them.
EMAIL_BACKEND = "django_leadpixel.mail.TrackingBackend"
LEADPIXEL["EMAIL_BACKEND"] = os.environ.get("LEADPIXEL_EMAIL_BACKEND",
                                            "django.core.mail.backends.locmem.EmailBackend")
