"""Set up the example site and show the app at work.

Migrates, creates an admin login (printed), renders a sample email through the
template tags, sends hits through the real tracking URLs with real user agents
(a desktop browser, the Gmail image proxy, an iPhone, Apple Mail Privacy
Protection, a link scanner), then serves the site so the admin shows them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.http import QueryDict
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_leadpixel.models import Message, Visit

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
        shop_url = settings.LEADPIXEL["BASE_URL"].rstrip("/") + "/shop/autumn/"
        # Addresses from MaxMind's own test data (GB, SE) and Google's proxy and
        # Apple's relay ranges, so the admin shows places for people only.
        people = [
            ("ada@example.com", CHROME_WINDOWS, "81.2.69.142", True),
            ("grace@example.com", GMAIL_PROXY, "66.249.84.12", False),
            ("linus@example.com", IPHONE_MAIL, "89.160.20.112", True),
            ("tim@example.com", APPLE_MPP, "172.225.8.19", False),
        ]
        for recipient, agent, ip, clicks in people:
            message = Message.objects.create(
                recipient=recipient, subject="Our autumn offer", campaign="autumn-demo",
                sent_at=now - timedelta(hours=2),
            )
            html = render_to_string("demo/email.html", {"message": message, "shop_url": shop_url})
            links = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)
            pixel = re.search(r'<img src="([^"]+)"', html)[1]
            client.get(urlsplit(pixel).path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
            if clicks:  # the offer's link leads into the shop: follow it there
                browser = IPHONE_SAFARI if "iPhone" in agent else agent
                self._visit_shop(addrport, urlsplit(links[0]).path, browser, ip)
            # A mail gateway checking every link before delivery.
            for link in links:
                client.head(urlsplit(link).path, HTTP_USER_AGENT=SCANNER, REMOTE_ADDR="209.222.82.7")
        lead_page = reverse("admin:django_leadpixel_lead_change", args=[quote("ada@example.com")])
        sample = Message.objects.first()
        self.stdout.write(render_to_string("demo/email.html", {"message": sample, "shop_url": shop_url}))
        self.stdout.write(self.style.SUCCESS(
            f"\nSent {Message.objects.count()} sample messages with opens and clicks.\n"
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
