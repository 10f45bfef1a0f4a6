"""The spool: where a hit goes when the database cannot take it.

One JSON line per hit (``hits.to_line``) to the logger ``django_leadpixel.spool``
(by default a ``WatchedFileHandler`` on ``SPOOL_FILE``); ``manage.py
leadpixel_replay`` stores the lines later with ``bulk.store_many``,
idempotently by event id.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

from ..classify import Verdict
from ..conf import app_settings
from .hits import Hit, dumps, message_of, to_line

logger = logging.getLogger("django_leadpixel")
spool_logger = logging.getLogger("django_leadpixel.spool")


class PrivateFileHandler(logging.handlers.WatchedFileHandler):
    """A ``WatchedFileHandler`` whose file is created readable by its owner only (0600):
    spooled lines hold addresses and user agents."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def configured_logger() -> logging.Logger:
    """The spool logger, given a file handler on ``SPOOL_FILE`` if it has none.

    The project's own handler is used when LOGGING configures one; the
    default ``WatchedFileHandler`` reopens the file after it is moved aside
    for replay.
    """
    if not spool_logger.handlers:
        handler = PrivateFileHandler(app_settings.SPOOL_FILE, encoding="utf-8")
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


def scrub_file(path, message_ids: set[str]) -> int:
    """Remove the lines about these messages (public ids, as text) from a spool file.

    The file is rewritten beside itself and swapped in (``os.replace``), kept
    private (0600); a running ``WatchedFileHandler`` reopens it. Lines that are
    not hits are kept for ``leadpixel_replay`` to report. Returns lines removed.
    Run it while the database is up: a line spooled by another process between
    the read and the swap would be lost with the old file.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        return 0
    kept = [line for line in lines if message_of(line) not in message_ids]
    removed = len(lines) - len(kept)
    if removed:
        temporary = f"{path}.erase-{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(kept)
        os.replace(temporary, path)
    return removed
