"""Set up the example site and show the app at work.

Migrates, creates an admin login (printed), sends a sample email through
``TrackingBackend`` (one tracked copy per recipient, kept in memory), sends
hits through the real tracking URLs with real user agents (a desktop browser,
the Gmail image proxy, an iPhone, Apple Mail Privacy Protection, a link
scanner) to its pixel, its links, a tracked image and a tracked PDF, prints an
email rendered through the template tags and the lint of a deliberately bad
template, then serves the site so the admin shows them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.http import QueryDict
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_leadpixel.models import Document, Message, Visit

# Real user agents, with where each one is published.
CHROME_WINDOWS = (  # a desktop browser; uap-core tests/test_ua.yaml
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (  # device-detector Tests/fixtures/bots.yml
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
IPHONE_MAIL = (  # iOS Mail; express-useragent#78
    "Mozilla/5.0 (iPhone; CPU iPhone OS 10_1_1 like Mac OS X) AppleWebKit/602.2.14 "
    "(KHTML, like Gecko) Mobile/14B100"
)
IPHONE_SAFARI = (  # atomantic/is-ua-webview#2
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1"
)
APPLE_MPP = "Mozilla/5.0"  # ua-parser/uap-core#509
SCANNER = "Kaspersky Lab CFR link resolver cfradmins@kaspersky.com"  # device-detector bots.yml

USERNAME, PASSWORD = "admin", "leadpixel-demo"
# The tracked document the demo sends: a one-page PDF shipped with the example.
REPORT_PDF = Path(__file__).resolve().parents[2] / "files" / "climate-report.pdf"


def send_tracked(recipients: list[str], shop_url: str) -> dict[str, tuple[Message, str]]:
    """Send demo/offer.html to each recipient through ``TrackingBackend`` (the example
    settings send through locmem): one Message and one instrumented copy each."""
    email = EmailMultiAlternatives("Our autumn offer", "Our autumn offer ends on Sunday.",
                                   "news@example.com", bcc=recipients,
                                   connection=get_connection("django_leadpixel.mail.TrackingBackend"))
    email.attach_alternative(render_to_string("demo/offer.html", {"name": "reader", "shop_url": shop_url}),
                             "text/html")
    email.leadpixel = {"campaign": "autumn-demo"}
    email.send()
    copies = {copy.bcc[0]: copy.alternatives[0][0] for copy in mail.outbox[-len(recipients):]}
    return {message.recipient: (message, copies[message.recipient])
            for message in email.leadpixel_messages}


class Command(BaseCommand):
    help = "Migrate, create an admin login, send sample hits, and serve the example site."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000",
                            help="Where to serve. Emails link to LEADPIXEL_BASE_URL (environment, "
                                 "default http://127.0.0.1:8000): set it to match.")
        parser.add_argument("--no-serve", action="store_true", help="Set up and exit.")

    def handle(self, *args, addrport: str, no_serve: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self._admin()
        client = Client(HTTP_HOST=urlsplit(f"http://{addrport}").hostname)
        now = timezone.now()
        document = self._document()
        shop_url = settings.LEADPIXEL["BASE_URL"].rstrip("/") + "/shop/autumn/"
        # Addresses from MaxMind's own test data (GB, SE) and Google's proxy and
        # Apple's relay ranges, so the admin shows places for people only.
        people = [
            ("ada@example.com", CHROME_WINDOWS, "81.2.69.142", True),
            ("grace@example.com", GMAIL_PROXY, "66.249.84.12", False),
            ("linus@example.com", IPHONE_MAIL, "89.160.20.112", True),
            ("tim@example.com", APPLE_MPP, "172.225.8.19", False),
        ]
        outbox = send_tracked([recipient for recipient, *_ in people], shop_url)
        for recipient, agent, ip, clicks in people:
            message, html = outbox[recipient]
            # Backdated as if sent two hours ago: a click right at delivery time is a scanner's.
            Message.objects.filter(pk=message.pk).update(sent_at=now - timedelta(hours=2))
            links = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)
            pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', html)[1]
            # The tracked image and PDF of demo/email.html ({% tracked_image %}, {% tracked_download %}).
            image = message.image_url("demo/climate-impact.png", alt="Chart of climate change impact")
            pdf = message.download_url(document)
            client.get(urlsplit(pixel).path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
            client.get(urlsplit(image).path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
            if clicks:  # the offer's link leads into the shop: follow it there
                browser = IPHONE_SAFARI if "iPhone" in agent else agent
                self._visit_shop(addrport, urlsplit(links[0]).path, browser, ip)
                # The reader opens the PDF: a viewer's first range is the download.
                client.get(urlsplit(pdf).path, HTTP_USER_AGENT=browser, REMOTE_ADDR=ip,
                           HTTP_RANGE="bytes=0-")
            # A mail gateway checking every link before delivery.
            for link in [*links, pdf]:
                client.head(urlsplit(link).path, HTTP_USER_AGENT=SCANNER, REMOTE_ADDR="209.222.82.7")
        lead_page = reverse("admin:django_leadpixel_lead_change", args=[quote("ada@example.com")])
        sample = Message.objects.first()
        self.stdout.write(render_to_string("demo/email.html", {"message": sample, "document": document,
                                                            "shop_url": shop_url}))
        self.stdout.write("\nThe lint of a deliberately bad template (manage.py leadpixel_lint):")
        try:
            call_command("leadpixel_lint", "demo/bad_email.html", "--campaign", stdout=self.stdout)
        except SystemExit as exit_:  # status 1: it has errors, as it should
            self.stdout.write(f"(exit status {exit_.code})")
        self.stdout.write(self.style.SUCCESS(
            f"\nSent {Message.objects.count()} sample messages with opens, clicks, a tracked image "
            "and a tracked PDF.\n"
            f"Admin: http://{addrport}/admin/  login {USERNAME!r} password {PASSWORD!r}\n"
            f"Ada followed the offer into the shop ({Visit.objects.count()} visits): her lead page is "
            f"http://{addrport}{lead_page}\n"
        ))
        if not no_serve:
            # --insecure: serve the admin's static files with DEBUG off, as a demo
            # needs (never use runserver in production).
            call_command("runserver", addrport, use_reloader=False, insecure_serving=True)

    def _visit_shop(self, addrport: str, click_path: str, agent: str, ip: str) -> None:
        """Click the shop link and browse, as the reader's browser would: its own cookies."""
        browser = Client(HTTP_HOST=urlsplit(f"http://{addrport}").hostname)
        browser.defaults.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
        response = browser.get(click_path)
        location = urlsplit(response["Location"])
        # The landing takes the visitor value into a cookie and drops it from the address.
        landing = browser.get(location.path, QueryDict(location.query))
        browser.get(landing["Location"], HTTP_REFERER="https://mail.example.com/")
        browser.get("/shop/boots/", HTTP_REFERER=f"http://{addrport}/shop/autumn/")

    def _admin(self) -> None:
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
        user.is_staff = user.is_superuser = True
        user.set_password(PASSWORD)
        user.save()

    def _document(self) -> Document:
        """The demo's tracked PDF (a one-page report), created once."""
        document = Document.objects.filter(slug="climate-report").first()
        if document is None:
            document = Document(title="Climate report", slug="climate-report",
                                disposition="inline")
            document.file.save("climate-report.pdf", ContentFile(REPORT_PDF.read_bytes()),
                               save=False)
            document.save()
        return document

