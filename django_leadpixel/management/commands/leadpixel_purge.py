from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from ... import jobs
from ...conf import app_settings
from ..progress import counted


class Command(BaseCommand):
    help = ("Delete messages sent more than RETENTION_DAYS days ago, with all their opens, "
            "clicks and visits, in batches. Click links keep redirecting: tokens carry their "
            "target.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help='Override LEADPIXEL["RETENTION_DAYS"].')

    def handle(self, *args, days=None, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if days is None and app_settings.RETENTION_DAYS is None:
            self.stdout.write('LEADPIXEL["RETENTION_DAYS"] is not set: nothing deleted.')
            return
        totals: Counter[str] = Counter()
        jobs.purge(days, totals=totals)
        self.stdout.write(f"deleted {counted(totals['messages'], 'message', 'messages')}, with "
                          f"{counted(totals['opens'], 'open', 'opens')}, "
                          f"{counted(totals['clicks'], 'click', 'clicks')}, "
                          f"{counted(totals['downloads'], 'download', 'downloads')} and "
                          f"{counted(totals['visits'], 'visit', 'visits')}")
