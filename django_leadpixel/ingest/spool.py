"""The spool: where a hit goes when the database cannot take it.

One JSON line per hit (``hits.to_line``) to the logger ``django_leadpixel.spool``
(by default a ``WatchedFileHandler`` on ``SPOOL_FILE``); ``manage.py
leadpixel_replay`` stores the lines later with ``bulk.store_many``,
idempotently by event id.
"""

from __future__ import annotations

import logging
import logging.handlers

from ..classify import Verdict
from ..conf import app_settings
from .hits import Hit, dumps, to_line

logger = logging.getLogger("django_leadpixel")
spool_logger = logging.getLogger("django_leadpixel.spool")


def configured_logger() -> logging.Logger:
    """The spool logger, given a file handler on ``SPOOL_FILE`` if it has none.

    The project's own handler is used when LOGGING configures one; the
    default ``WatchedFileHandler`` reopens the file after it is moved aside
    for replay.
    """
    if not spool_logger.handlers:
        handler = logging.handlers.WatchedFileHandler(app_settings.SPOOL_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        spool_logger.addHandler(handler)
        spool_logger.setLevel(logging.INFO)
        spool_logger.propagate = False
    return spool_logger


def spool(hit: Hit, verdict: Verdict) -> None:
    """Write ``hit`` as one JSON line to the spool logger. Never raises."""
    try:
        configured_logger().info(dumps(to_line(hit, verdict)))
    except Exception:  # noqa: BLE001 - the spool is the last resort; never fail the response
        logger.exception("leadpixel: could not spool %s %s", hit.kind, hit.id)
