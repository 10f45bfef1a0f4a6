"""Celery tasks: thin wrappers over ``jobs``. ``shared_task`` so any Celery app
autodiscovers them; the package itself creates no Celery app.

Enrichment is dispatched after commit from a background thread, so the
request never waits on the broker (a publish to a broker that is down can
block for seconds). Whatever is not published, the periodic ``sweep`` picks up.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.db import DatabaseError, InterfaceError

from . import jobs

logger = logging.getLogger("django_leadpixel")

# Errors worth another try: the database restarting or failing over.
TRANSIENT = (DatabaseError, InterfaceError, OSError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 300,
         "retry_jitter": True, "max_retries": 8}


@shared_task(name="django_leadpixel.tasks.enrich_event", acks_late=True, ignore_result=True,
             **RETRY)
def enrich_event(kind: str, event_id: str) -> bool:
    return jobs.enrich_one(kind, event_id)


@shared_task(name="django_leadpixel.tasks.sweep", acks_late=True, **RETRY)
def sweep(batch_size: int | None = None, max_batches: int | None = None) -> int:
    return jobs.sweep(batch_size=batch_size, max_batches=max_batches)


@shared_task(name="django_leadpixel.tasks.ingest", acks_late=True, **RETRY)
def ingest(batch_size: int | None = None) -> dict:
    """Move the Redis ingest buffer into the database (``INGEST = "redis"``; else a no-op)."""
    from . import buffer

    return dict(buffer.drain(batch_size))


@shared_task(name="django_leadpixel.tasks.purge", acks_late=True, **RETRY)
def purge() -> int:
    return jobs.purge()


@shared_task(name="django_leadpixel.tasks.reclassify", acks_late=True, **RETRY)
def reclassify() -> dict:
    return jobs.reclassify()


# --- dispatch from the request path ---------------------------------------

_publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadpixel-publish")
# At most this many publishes wait for a slow broker; past that, the sweep
# enriches the rest and the request path stays free.
_backlog = threading.BoundedSemaphore(1000)


def _publish(kind: str, event_id: str) -> None:
    try:
        enrich_event.apply_async((kind, event_id), retry=False)
    except Exception:  # noqa: BLE001 - broker down: the sweep will enrich it
        logger.warning("leadpixel: could not publish enrichment of %s %s; the sweep will",
                       kind, event_id, exc_info=True)
    finally:
        _backlog.release()


def enqueue_enrichment(event) -> None:
    kind = "open" if event._meta.model_name == "open" else "click"
    if enrich_event.app.conf.task_always_eager:
        # Eager mode (the example project, tests): no broker, run it here.
        try:
            jobs.enrich_one(kind, str(event.pk))
        except Exception:  # noqa: BLE001 - enrichment never breaks a response
            logger.exception("leadpixel: enrichment of %s %s failed", kind, event.pk)
        return
    if _backlog.acquire(blocking=False):
        _publisher.submit(_publish, kind, str(event.pk))
