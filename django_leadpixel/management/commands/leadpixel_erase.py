from collections import Counter

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from ... import jobs
from ...conf import app_settings
from ...ingest import buffer, spool
from ...models import ReportDirty
from ...reports import rollup
from ..progress import counted


class Command(BaseCommand):
    help = ("Erase everything stored about one recipient: their messages, opens, clicks and visits, "
            "the hits about them still waiting in the Redis buffer and in spool files, and "
            "the report cells that counted them (rebuilt at once).")

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--spool", action="append", default=[], metavar="FILE",
            help="Also scrub this spool file (repeatable); SPOOL_FILE is always scrubbed.")

    def handle(self, *args, email: str, spool: list[str], **options):
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address") from exc
        messages = jobs.recipient_messages(email)
        public_ids = {str(value) for value in messages.values_list("public_id", flat=True)}
        cells = ReportDirty.objects.keys_of_messages(messages.values_list("pk", flat=True))
        lines: Counter[str] = Counter()
        # First what waits outside the database, so that no drain or replay
        # stores those hits again after the rows are gone.
        if public_ids:
            try:
                lines["the Redis buffer"] = buffer.scrub(public_ids)
            except Exception as exc:  # noqa: BLE001 - say it, and stop before deleting
                raise CommandError(f"could not scrub the Redis ingest buffer ({exc}); nothing "
                                   "was erased: run the command again") from exc
            for path in dict.fromkeys([str(app_settings.SPOOL_FILE), *spool]):
                lines[f"spool file {path}"] = _scrub_spool(path, public_ids)
        totals: Counter[str] = Counter()
        jobs.erase_recipient(email, totals=totals)
        rebuilt = 0
        if cells and rollup.in_use():
            rebuilt = rollup.refresh(limit=None)["built"]
        self.stdout.write(
            f"erased {counted(totals['messages'], 'message', 'messages')} to {email.strip()}, "
            f"{counted(totals['opens'], 'open', 'opens')}, "
            f"{counted(totals['clicks'], 'click', 'clicks')}, "
            f"{counted(totals['downloads'], 'download', 'downloads')} and "
            f"{counted(totals['visits'], 'visit', 'visits')}")
        for where, n in lines.items():
            self.stdout.write(f"removed {counted(n, 'waiting hit', 'waiting hits')} from {where}")
        self.stdout.write(f"rebuilt {counted(rebuilt, 'report cell', 'report cells')}")


def _scrub_spool(path: str, public_ids: set[str]) -> int:
    try:
        return spool.scrub_file(path, public_ids)
    except OSError as exc:
        raise CommandError(f"could not scrub spool file {path}: {exc}") from exc
