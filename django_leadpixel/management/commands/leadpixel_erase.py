from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from ... import jobs


class Command(BaseCommand):
    help = "Erase everything stored about one recipient: their messages, opens and clicks."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email: str, **options):
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address") from exc
        self.stdout.write(f"erased {jobs.erase_recipient(email)} messages to {email.strip()}")
