from django.core.management.base import BaseCommand, CommandError

from ... import jobs
from ...conf import app_settings
from ..progress import BATCH_SIZE_HELP, NO_PROGRESS_HELP, Progress, counted


class Command(BaseCommand):
    help = ("Classify every stored event again with the current rules and IP ranges, in "
            "batches. Events whose verdict changes are enriched again by the sweep.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                            help=BATCH_SIZE_HELP)
        parser.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)

    def handle(self, *args, batch_size=None, no_progress=False, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        total = sum(model.objects.count() for model in jobs.EVENT_MODELS)
        progress = Progress(self.stderr, total, "reclassifying", enabled=not no_progress)
        counts = jobs.reclassify(batch_size=batch_size, progress=progress)
        progress.close()
        self.stdout.write(f"seen {counts['seen']}, changed {counts['changed']}")
        if counts["anonymised"]:
            note = ("stored truncated (ANONYMIZE_IP)" if app_settings.ANONYMIZE_IP
                    else "stored without an address")
            self.stdout.write(
                f"{counted(counts['anonymised'], 'event', 'events')} had their IP {note}: they "
                "were classified from what was stored, so exact-address rules could not apply "
                "to them."
            )
