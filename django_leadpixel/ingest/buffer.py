"""The Redis backend: buffered ingestion (``LEADPIXEL["INGEST"] = "redis"``), off by default.

The request appends the hit as one JSON line to a Redis list (one round trip
with short socket timeouts) instead of writing to the database; the Celery
task ``django_leadpixel.tasks.ingest`` moves the list into the database in
bulk. If Redis does not answer in time, the request falls back to the direct
database write, so nothing is lost either way.

Draining is safe against a worker dying mid-batch: a batch is read with
LRANGE, stored (idempotently, by event id), and only then trimmed off the
list; a lock lets one drainer run at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import Counter

from ..classify import Verdict
from ..conf import app_settings
from ..exceptions import SpoolLineError
from .bulk import store_many
from .direct import DirectBackend
from .hits import Hit, dumps, from_line, message_of, to_line

logger = logging.getLogger("django_leadpixel")

LOCK_SECONDS = 30
# The drain runs in a task, not a request: it waits on Redis this long (at least),
# where a request gives up after INGEST_TIMEOUT and writes directly.
DRAIN_TIMEOUT = 5.0

_clients: dict[tuple[str, float], object] = {}
_pushers = threading.local()


def client():
    """A Redis client for ``INGEST_REDIS_URL`` for the drain (one connection pool per
    process), with ``DRAIN_TIMEOUT``: a busy machine must not fail the drain."""
    import redis

    key = (app_settings.INGEST_REDIS_URL, max(float(app_settings.INGEST_TIMEOUT), DRAIN_TIMEOUT))
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(
            key[0], socket_timeout=key[1], socket_connect_timeout=key[1],
            health_check_interval=30,
        )
    return _clients[key]


def _pusher():
    """This thread's own connection for ``push``: one RPUSH and its reply, no pool.

    The client's pool, retry and health-check layers cost more CPU than the
    push itself (README "Performance", buffered ingestion); on the
    request path that is most of what buffering saves. A connection made
    before a fork is not reused in the child.
    """
    import redis

    key = (app_settings.INGEST_REDIS_URL, float(app_settings.INGEST_TIMEOUT), os.getpid())
    if getattr(_pushers, "key", None) != key:
        _pushers.connection = redis.ConnectionPool.from_url(
            key[0], socket_timeout=key[1], socket_connect_timeout=key[1]).make_connection()
        _pushers.key = key
    return _pushers.connection


def push_connection():
    """This thread's push connection (None before its first push)."""
    return getattr(_pushers, "connection", None)


# RPUSH unless the list holds INGEST_MAX_LENGTH lines already (then -1): one round trip.
PUSH_SCRIPT = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""
PUSH_SHA = hashlib.sha1(PUSH_SCRIPT.encode()).hexdigest()
_full_warned = [0.0]


def push(hit: Hit, verdict) -> bool:
    """Append ``hit`` to the buffer. False when Redis could not take it in time, or
    the list is full (``INGEST_MAX_LENGTH``): the caller then writes directly."""
    line = dumps(to_line(hit, verdict))
    try:
        connection = _pusher()
        args = (1, app_settings.INGEST_KEY, line, app_settings.INGEST_MAX_LENGTH)
        connection.send_command("EVALSHA", PUSH_SHA, *args, check_health=False)
        try:
            length = connection.read_response()
        except redis_errors().NoScriptError:  # a new or flushed server: load it once
            connection.send_command("EVAL", PUSH_SCRIPT, *args, check_health=False)
            length = connection.read_response()
    except Exception:  # noqa: BLE001 - any Redis trouble: the caller writes directly
        # A reply that came late would be read as the next one's: start afresh.
        # (If Redis did take the line, the direct write and the drain share its
        # event id, so it is stored once.)
        with contextlib.suppress(Exception):
            _pushers.connection.disconnect()
        _pushers.key = None
        logger.warning("leadpixel: ingest buffer unavailable, writing %s %s directly",
                       hit.kind, hit.id, exc_info=True)
        return False
    if length == -1:
        if time.monotonic() - _full_warned[0] > 60:  # once a minute, not once a hit
            _full_warned[0] = time.monotonic()
            logger.warning("leadpixel: the ingest buffer holds INGEST_MAX_LENGTH (%d) lines; "
                           "writing directly. Is the ingest task running?",
                           app_settings.INGEST_MAX_LENGTH)
        return False
    return True


class RedisBackend(DirectBackend):
    """Appends a hit to the Redis list; writes it directly when Redis does not take it.

    ``store`` returns None for a buffered hit: it is stored (and announced) by
    the ``ingest`` task's ``drain``.
    """

    def store(self, hit: Hit, verdict: Verdict):
        if push(hit, verdict):
            return None
        return super().store(hit, verdict)


def drain(batch_size: int | None = None, max_batches: int | None = None) -> Counter[str]:
    """Move buffered hits into the database. Returns counts (stored, duplicate, orphan, bad)."""
    counts: Counter[str] = Counter()
    if app_settings.INGEST != "redis":
        return counts
    size = batch_size or max(app_settings.BATCH_SIZE, 1000)
    redis = client()
    key = app_settings.INGEST_KEY
    # A short lease, renewed after every batch: a drainer killed mid-batch
    # holds the others off for LOCK_SECONDS at most.
    lock = redis.lock(f"{key}:lock", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return counts  # another worker is draining
    try:
        batches = 0
        while max_batches is None or batches < max_batches:
            raw = redis.lrange(key, 0, size - 1)
            if not raw:
                break
            items = []
            for line in raw:
                try:
                    items.append(from_line(line))
                except SpoolLineError as exc:
                    counts["bad"] += 1
                    logger.error("leadpixel: dropped a malformed buffered line (%s): %r",
                                 exc, line[:200])
            counts += store_many(items)
            # Only now, with the batch committed, take it off the list.
            redis.ltrim(key, len(raw), -1)
            batches += 1
            lock.reacquire()
    finally:
        try:
            lock.release()
        except redis_errors().LockError:
            # The lease ran out while the last batch was stored: another drainer
            # may hold the lock now, and it is theirs to release.
            logger.warning("leadpixel: the ingest lock expired before it was released")
    return counts


def scrub(message_ids: set[str], batch_size: int = 1000) -> int:
    """Remove the buffered lines about these messages (public ids, as text).

    Holds the drain's lock (waiting up to ``LOCK_SECONDS``), since a drain
    trims the list by position; each line goes with ``LREM``, so pushes made
    meanwhile are kept. Returns lines removed; 0 when buffering is off.
    """
    if app_settings.INGEST != "redis":
        return 0
    redis = client()
    key = app_settings.INGEST_KEY
    lock = redis.lock(f"{key}:lock", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
    if not lock.acquire():
        raise TimeoutError("the ingest buffer's drain lock is held: try the erase again")
    removed = 0
    try:
        start = 0
        while True:
            raw = redis.lrange(key, start, start + batch_size - 1)
            if not raw:
                break
            doomed = [line for line in raw if message_of(line) in message_ids]
            for line in doomed:
                removed += redis.lrem(key, 0, line)
            start += len(raw) - len(doomed)
            lock.reacquire()
    finally:
        lock.release()
    return removed



def redis_errors():
    """``redis.exceptions`` (redis is an optional dependency: imported when used)."""
    import redis.exceptions

    return redis.exceptions
