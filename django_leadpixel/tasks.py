"""Celery tasks: thin wrappers over ``jobs``. ``shared_task`` so any Celery app
autodiscovers them; the package itself creates no Celery app.

Enrichment is dispatched after commit through a background thread that
publishes ids in batches, so the request never waits on the broker (a publish
to a broker that is down can block for seconds) and pays no publish per event.
Whatever is not published, the periodic ``sweep`` picks up.
"""

from __future__ import annotations

import logging
import threading
from typing import TypedDict

from celery import shared_task
from django.db import DatabaseError, InterfaceError

from . import jobs
from .ingest import buffer
from .reports import leads, rollup

logger = logging.getLogger("django_leadpixel")

# Errors worth another try: the database restarting or failing over.
TRANSIENT = (DatabaseError, InterfaceError, OSError)
class RetryOptions(TypedDict):
    autoretry_for: tuple[type[BaseException], ...]
    retry_backoff: int
    retry_backoff_max: int
    retry_jitter: bool
    max_retries: int


RETRY: RetryOptions = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 300,
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
    return dict(buffer.drain(batch_size))


@shared_task(name="django_leadpixel.tasks.purge", acks_late=True, **RETRY)
def purge() -> int:
    return jobs.purge()


@shared_task(name="django_leadpixel.tasks.reclassify", acks_late=True, **RETRY)
def reclassify() -> dict:
    return jobs.reclassify()


@shared_task(name="django_leadpixel.tasks.refresh_reports", acks_late=True, **RETRY)
def refresh_reports(limit: int | None = 500) -> dict:
    return rollup.refresh(limit)


@shared_task(name="django_leadpixel.tasks.refresh_leads", acks_late=True, **RETRY)
def refresh_leads() -> bool:
    """Bring the lead list up to date (PostgreSQL's materialized view; ``reports.leads``)."""
    return leads.refresh()


@shared_task(name="django_leadpixel.tasks.enrich_events", acks_late=True, ignore_result=True,
             **RETRY)
def enrich_events(kind: str, event_ids: list[str]) -> int:
    return jobs.enrich_many(kind, event_ids)


# --- dispatch from the request path ---------------------------------------


class Dispatcher:
    """Publishes enrichment of stored events in batches, from one background thread.

    A publish costs about a millisecond of CPU and may block on a broker that
    is down; the request only appends an id to a list. Every ``interval``
    seconds (sooner when ``batch`` ids wait) one ``enrich_events`` task per
    kind is published. Ids beyond ``limit`` waiting, or lost with the process,
    are enriched by the periodic sweep.
    """

    def __init__(self, batch: int = 200, interval: float = 0.5, limit: int = 20000):
        self.batch, self.interval, self.limit = batch, interval, limit
        self.pending: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, kind: str, event_id: str) -> None:
        with self.lock:
            if len(self.pending) >= self.limit:
                return
            self.pending.append((kind, event_id))
            if self.thread is None or not self.thread.is_alive():
                # Started lazily, so it is created after a pre-forking server forks.
                self.thread = threading.Thread(target=self._run, name="leadpixel-publish",
                                               daemon=True)
                self.thread.start()
            if len(self.pending) >= self.batch:
                self.wake.set()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        by_kind: dict[str, list[str]] = {}
        for kind, event_id in pending:
            by_kind.setdefault(kind, []).append(event_id)
        for kind, ids in by_kind.items():
            for start in range(0, len(ids), self.batch):
                try:
                    enrich_events.apply_async((kind, ids[start:start + self.batch]), retry=False)
                except Exception:  # noqa: BLE001 - broker down: the sweep will enrich them
                    logger.warning("leadpixel: could not publish enrichment of %d %ss; the "
                                   "sweep will", len(ids[start:]), kind, exc_info=True)
                    break

    def _run(self) -> None:
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            self.flush()


dispatcher = Dispatcher()


def enrich_stored(sender, *, kind: str, ids, **kwargs) -> None:
    """Receiver of ``signals.events_stored`` (connected in ``apps.ready()``); ingest
    announces only with ``ENRICH_ON_RECORD``."""
    for event_id in ids:
        enqueue_enrichment(kind, event_id)


def enqueue_enrichment(kind: str, event_id) -> None:
    """Enrich the stored ``kind`` ("open", "click", "visit": ``models.KINDS``) event ``event_id`` soon."""
    if enrich_events.app.conf.task_always_eager:
        # Eager mode (the example project, tests): no broker, run it here.
        try:
            jobs.enrich_one(kind, str(event_id))
        except Exception:  # noqa: BLE001 - enrichment never breaks a response
            logger.exception("leadpixel: enrichment of %s %s failed", kind, event_id)
        return
    dispatcher.add(kind, str(event_id))
