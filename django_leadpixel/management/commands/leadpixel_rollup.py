from django.core.management.base import BaseCommand, CommandError

from ...reports import rollup
from ..progress import counted


class Command(BaseCommand):
    help = ("Bring the report rollup up to date: rebuild the report cells (one per campaign "
            "and sending day) whose events or messages changed. Reports are exact without "
            "it; it makes them fast. --rebuild redoes every cell.")

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Rebuild every cell.")
        parser.add_argument("--limit", type=int, default=None,
                            help="Rebuild at most this many cells (default: all).")
        parser.add_argument("--clear", action="store_true",
                            help="Delete every cell and marker instead (turns the rollup off "
                                 "until the next refresh).")

    def handle(self, *args, rebuild=False, limit=None, clear=False, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        if clear:
            self.stdout.write(f"deleted {counted(rollup.clear(), 'cell', 'cells')}; reports now "
                              "come from the "
                              "events until the next refresh")
            return
        result = rollup.refresh(limit, rebuild=rebuild)
        self.stdout.write(f"built {counted(result['built'], 'cell', 'cells')}, deleted "
                          f"{result['deleted']}, "
                          f"{result['waiting']} left for the next run")
