from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import SpoolLineError
from ...ingest.bulk import store_many
from ...ingest.hits import from_line

CHUNK = 500


class Command(BaseCommand):
    help = (
        "Store the events spooled while the database was down. Idempotent: an event "
        "already stored (same id) is skipped, so replaying a file twice stores nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("spool_file", nargs="+", help="JSON-lines spool file(s)")

    def handle(self, *args, spool_file: list[str], **options):
        counts: Counter[str] = Counter()
        for path in spool_file:
            try:
                handle = open(path, encoding="utf-8", errors="replace")
            except OSError as exc:
                raise CommandError(f"cannot read spool file {path}: {exc}") from exc
            chunk = []
            with handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        chunk.append(from_line(line))
                    except SpoolLineError as exc:
                        counts["bad"] += 1
                        self.stderr.write(f"{path}:{number}: skipped, not a spooled event ({exc})")
                    if len(chunk) >= CHUNK:
                        counts += store_many(chunk)
                        chunk = []
            counts += store_many(chunk)
        self.stdout.write(
            f"stored {counts['stored']}, already stored {counts['duplicate']}, "
            f"message gone {counts['orphan']}, bad lines {counts['bad']}"
        )
