from __future__ import annotations

from datetime import datetime, time
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ... import jobs
from ...enrichment import geoip_problem, reset_locator
from ..progress import BATCH_SIZE_HELP, NO_PROGRESS_HELP, Progress, counted


def parse_since(text: str) -> datetime:
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            value = datetime.combine(day, time.min) if day else None
    except ValueError:
        value = None
    if value is None:
        raise CommandError(f"--since: {text!r} is not an ISO 8601 date or datetime")
    return timezone.make_aware(value, dt_timezone.utc) if timezone.is_naive(value) else value


class Command(BaseCommand):
    help = ("Enrich events with place and device, in batches. By default only events not "
            "enriched yet; --all re-enriches everything (after a GeoIP database update).")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Re-enrich enriched events too.")
        parser.add_argument("--since", help="Only events at or after this date or datetime "
                                            "(ISO 8601, e.g. 2026-01-31).")
        parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                            help=BATCH_SIZE_HELP)
        parser.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)

    def handle(self, *args, all: bool, since: str | None, batch_size, no_progress, **options):
        start = parse_since(since) if since else None
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        reset_locator()
        problem = geoip_problem()
        if problem:
            self.stderr.write(f"Warning: {problem} Places will be left empty.")

        def select(model):
            queryset = model.objects.all() if all else model.objects.filter(enriched_at__isnull=True)
            return queryset.filter(occurred_at__gte=start) if start else queryset

        total = sum(select(model).count() for model in jobs.EVENT_MODELS)
        progress = Progress(self.stderr, total, "enriching", enabled=not no_progress)
        done = jobs.enrich_batches(select, batch_size=batch_size, progress=progress)
        progress.close()
        self.stdout.write(f"enriched {counted(done, 'event', 'events')}")
