from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template import TemplateDoesNotExist, TemplateSyntaxError, engines
from django.template.loader import get_template

from ...lint import ERROR, lint_html
from ...models import Message


class Command(BaseCommand):
    help = ("Lint an email before sending: render a Django template (by name, or a file "
            "holding template tags) or read an HTML file, and print what the lint finds. "
            "Exits with status 1 when there are errors, so it can run in CI. The context "
            "has a sample, unsaved 'message' for {% lead_pixel %} and {% track_links %}.")

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="PATH_OR_TEMPLATE",
                            help="An HTML file, or the name of a template the project's loaders find.")
        parser.add_argument("--context", default="{}",
                            help='A JSON object for the template context, e.g. \'{"name": "Ana"}\'.')
        parser.add_argument("--campaign", action="store_true",
                            help="Lint it as a campaign email (it needs an unsubscribe link).")

    def handle(self, *args, source: str, context: str, campaign: bool, **options):
        try:
            values = json.loads(context)
        except ValueError as exc:
            raise CommandError(f"--context is not JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise CommandError("--context must be a JSON object")
        values.setdefault("message", Message(recipient="lint@example.invalid",
                                             subject="leadpixel_lint sample"))
        html = self.render(source, values)
        findings = lint_html(html, campaign=campaign)
        for finding in findings:
            self.stdout.write(str(finding))
        errors = sum(1 for f in findings if f.severity == ERROR)
        self.stdout.write(f"{source}: {errors} error(s), {len(findings) - errors} warning(s)")
        if errors:
            raise SystemExit(1)

    def render(self, source: str, values: dict) -> str:
        path = Path(source)
        try:
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                if "{%" not in text and "{{" not in text:
                    return text
                return engines["django"].from_string(text).render(values)
            return get_template(source).render(values)
        except TemplateDoesNotExist as exc:
            raise CommandError(f"{source}: no such file or template") from exc
        except (TemplateSyntaxError, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: {exc}") from exc
