"""A ready Celery beat schedule for the periodic jobs.

Merge it into your own, after ``LEADPIXEL`` in the settings module::

    from django_leadpixel.beat import beat_schedule
    CELERY_BEAT_SCHEDULE = {**beat_schedule(LEADPIXEL), ...}

``beat_schedule`` adds ``leadpixel-ingest`` (every 2 s) only in buffered mode
(``LEADPIXEL["INGEST"] = "redis"``); ``BEAT_SCHEDULE`` is the schedule without it,
for the default direct mode. Imports only Celery, so it is safe to use from a
settings module.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Enrich whatever the after-commit dispatch missed (broker down, restarts).
    "leadpixel-sweep": {"task": "django_leadpixel.tasks.sweep", "schedule": 60.0},
    # Keep the report rollup current (reports are exact without it, only slower).
    "leadpixel-rollup": {"task": "django_leadpixel.tasks.refresh_reports", "schedule": 60.0},
    # Bring the lead list up to date (PostgreSQL keeps it in a materialized view).
    "leadpixel-leads": {"task": "django_leadpixel.tasks.refresh_leads", "schedule": 300.0},
    # Delete messages older than LEADPIXEL["RETENTION_DAYS"] (no-op when None).
    "leadpixel-purge": {"task": "django_leadpixel.tasks.purge",
                        "schedule": crontab(hour=3, minute=17)},
    # Re-run classification so history follows updated ranges and rules.
    "leadpixel-reclassify": {"task": "django_leadpixel.tasks.reclassify",
                             "schedule": crontab(hour=4, minute=11, day_of_week=0)},
}

# With LEADPIXEL["INGEST"] = "redis": move buffered hits into the database.
INGEST_ENTRY = {"leadpixel-ingest": {"task": "django_leadpixel.tasks.ingest", "schedule": 2.0}}


def beat_schedule(leadpixel: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The schedule for a ``LEADPIXEL`` settings dict: ``BEAT_SCHEDULE``, plus the
    ``leadpixel-ingest`` drain when ``INGEST`` is ``"redis"`` (in direct mode there is
    nothing to drain, and the task would run every 2 s for nothing)."""
    schedule = dict(BEAT_SCHEDULE)
    if (leadpixel or {}).get("INGEST") == "redis":
        schedule.update(INGEST_ENTRY)
    return schedule
