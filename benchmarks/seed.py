"""Fill a PostgreSQL database with a realistic data set for the admin benchmarks.

Run from the repository root, by hand (the test suite does not run it):

    PGDATABASE=lp_bench python benchmarks/seed.py [--messages 100000] [--events 1000000]

The database is created when missing, migrated, emptied of leadpixel rows,
then filled with bulk inserts (``bulk_create`` in batches) and ANALYZEd.
The example project's settings are used with ``LEADPIXEL_DB=postgres``; the
usual PG* environment variables say where the server is.

What the data looks like, per message (seeded RNG, so reruns are identical):
- 20 campaigns, sending days spread over the last 120 days;
- the recipient's mailbox decides who fetches the pixel: Gmail (Google Image
  Proxy on every open), Yahoo (its proxy), Apple Mail with Privacy Protection
  (a prefetch at delivery, sometimes real opens later), Outlook and other
  clients on people's devices (human opens with place and device);
- about a third of messages are never opened; people open 1 to several times;
- a share of business recipients sit behind a link scanner that clicks every
  link at delivery; about a quarter of people who open click one or two links;
- a sprinkle of bots (unfurlers, HTTP libraries);
- visits on the sender's site: 60 % of people's clicks lead to 1 to 4 page views
  (a person's), 30 % of scanners' clicks to one page load (a scanner's visit).
The number of repeat opens is scaled so the total comes out near ``--events``.
With ``--people N``, messages go to N recipients (about messages/N each: the
leads of ``benchmarks/leads.py``); without it each message has its own. Visits
and recipients draw from their own random streams, so the opens and clicks are
those of earlier runs with the same seed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import timedelta

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

use_example_project("lp_bench")

CAMPAIGNS = [f"campaign-{i:02d}" for i in range(20)]
SUBJECTS = ["Spring sale", "Your invoice", "News from us", "Last chance", "Welcome!",
            "Product update", "We miss you", "Weekly digest"]
LINKS = ["https://shop.example.com/offer", "https://shop.example.com/new",
         "https://blog.example.com/post", "https://example.com/account"]
COUNTRIES = (["US"] * 30 + ["GB"] * 12 + ["DE"] * 10 + ["FR"] * 8 + ["CA"] * 6 + ["IN"] * 6
             + ["BR"] * 5 + ["NL"] * 4 + ["ES"] * 4 + ["IT"] * 4 + ["AU"] * 3 + ["SE"] * 2
             + ["PL"] * 2 + ["JP"] * 2 + ["MX"] * 2)
CITIES = {"US": "New York", "GB": "London", "DE": "Berlin", "FR": "Paris", "CA": "Toronto",
          "IN": "Mumbai", "BR": "São Paulo", "NL": "Amsterdam", "ES": "Madrid",
          "IT": "Milan", "AU": "Sydney", "SE": "Stockholm", "PL": "Warsaw", "JP": "Tokyo",
          "MX": "Mexico City"}

# (user agent, device_type, os, browser, mail_client) seen on people's devices.
PEOPLE_DEVICES = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", "desktop", "Windows", "Chrome", ""),
    ("Microsoft Outlook 16.0.17126; Pro", "desktop", "Windows", "", "Microsoft Outlook"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Mobile/15E148", "mobile", "iOS", "", "Apple Mail"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Mobile Safari/537.36", "mobile", "Android", "Chrome Mobile", ""),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko)", "desktop", "Mac OS X", "", "Apple Mail"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Thunderbird/115.5.0",
     "desktop", "Linux", "", "Thunderbird"),
    ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "tablet", "iOS", "Mobile Safari", ""),
]
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MPP = "Mozilla/5.0"
SCANNER = "Kaspersky Lab CFR link resolver cfradmins@kaspersky.com"
BOT = "python-requests/2.31.0"
DOMAINS = ("gmail.com", "yahoo.com", "icloud.com", "corp.example")
PAGES = ["/offer/", "/new/", "/pricing/", "/checkout/", "/about/"]
MAILBOXES = (["gmail"] * 30 + ["yahoo"] * 6 + ["apple"] * 30 + ["person"] * 34)


def setup_django():
    import django
    import psycopg

    name = os.environ["PGDATABASE"]
    admin_db = dict(host=os.environ.get("PGHOST", "127.0.0.1"),
                    port=os.environ.get("PGPORT", "5432"),
                    user=os.environ.get("PGUSER", "postgres"),
                    password=os.environ.get("PGPASSWORD", ""), dbname="postgres",
                    autocommit=True)
    with psycopg.connect(**admin_db) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


class Seeder:
    def __init__(self, messages: int, events: int, seed: int, people: int | None = None):
        self.rng = random.Random(seed)
        self.visit_rng = random.Random(seed + 1)
        self.people = people
        self.n_messages = messages
        # Mean opens per opened message. About 1.0 event per message comes from the fixed
        # parts (MPP prefetches, scanner clicks, clicks, bots) and 62 % of messages are
        # opened; counting 0.8 leaves a margin so the total lands a little over ``events``.
        self.repeat = max(1.0, (events / messages - 0.8) / 0.62)

    def _event(self, model, msg, source, at, *, ua="", operator="", reason="", **extra):
        from django_leadpixel.enrichment import GeoStatus

        rng = self.rng
        fields = dict(id=uuid.UUID(int=rng.getrandbits(128), version=4), message_id=msg.pk,
                      occurred_at=at, source=source, reason=reason or source,
                      operator=operator, user_agent=ua, enriched_at=at + timedelta(seconds=5))
        if source == "human":
            ua, device_type, os_name, browser, client = rng.choice(PEOPLE_DEVICES)
            country = rng.choice(COUNTRIES)
            fields.update(user_agent=ua, device_type=device_type, os=os_name, browser=browser,
                          mail_client=client, country=country, city=CITIES[country],
                          geo_status=GeoStatus.OK,
                          ip=f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                          reason="Browser or mail app on a person's device")
        else:
            fields.update(masked=True, geo_status=GeoStatus.MASKED,
                          ip=f"66.249.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        fields.update(extra)
        return model(**fields)

    def events_for(self, msg, mailbox: str):
        from django_leadpixel.models import Click, Open

        rng, sent = self.rng, msg.sent_at
        out = []

        def later(max_hours=72):
            return sent + timedelta(seconds=rng.uniform(30, max_hours * 3600))

        def repeats():
            return max(1, int(rng.expovariate(1 / self.repeat) + 0.5))

        opened = rng.random() < 0.62
        corporate = rng.random() < 0.15
        if mailbox == "apple" and rng.random() < 0.95:
            out.append(self._event(Open, msg, "apple_mpp", sent + timedelta(seconds=rng.uniform(
                2, 600)), ua=MPP, operator="Apple"))
        if corporate:  # a link scanner detonates every link at delivery
            for pos, url in enumerate(LINKS[:3]):
                at = sent + timedelta(seconds=20 + pos * 0.3)
                out.append(self._event(Click, msg, "scanner", at, ua=SCANNER,
                                       operator="Kaspersky", url=url, position=pos))
        if rng.random() < 0.02:
            out.append(self._event(Open, msg, "bot", later(), ua=BOT))
        if not opened:
            return out
        open_source = {"gmail": "google_proxy", "yahoo": "yahoo_proxy"}.get(mailbox, "human")
        ua = {"google_proxy": GMAIL, "yahoo_proxy": YAHOO}.get(open_source, "")
        operator = {"google_proxy": "Google", "yahoo_proxy": "Yahoo"}.get(open_source, "")
        times = sorted(later() for _ in range(repeats()))
        for at in times:
            out.append(self._event(Open, msg, open_source, at, ua=ua, operator=operator))
        if rng.random() < 0.25:
            for pos in rng.sample(range(len(LINKS)), rng.choice((1, 1, 2))):
                at = times[0] + timedelta(seconds=rng.uniform(5, 600))
                out.append(self._event(Click, msg, "human", at, url=LINKS[pos], position=pos))
        return out

    def visits_for(self, clicks: list) -> list:
        """Page views on the sender's site after clicks (their own random stream)."""
        from django_leadpixel.models import Visit

        rng, out = self.visit_rng, []
        for click in clicks:
            if click.source == "human" and rng.random() < 0.6:
                at = click.occurred_at
                for _ in range(rng.randint(1, 4)):
                    at += timedelta(seconds=rng.uniform(5, 240))
                    out.append(self._visit(Visit, click, "human", at, rng))
            elif click.source == "scanner" and rng.random() < 0.3:
                out.append(self._visit(Visit, click, "scanner", click.occurred_at
                                       + timedelta(seconds=1), rng))
        return out

    @staticmethod
    def _visit(model, click, source, at, rng):
        return model(id=uuid.UUID(int=rng.getrandbits(128), version=4), message_id=click.message_id,
                     click_id=click.id, occurred_at=at, source=source, reason=source,
                     path=rng.choice(PAGES), referrer_host="mail.google.com",
                     enriched_at=at + timedelta(seconds=5), masked=source != "human",
                     user_agent=click.user_agent, ip=click.ip, device_type=click.device_type,
                     os=click.os, browser=click.browser, country=click.country, city=click.city)

    def run(self, batch: int = 5000) -> tuple[int, int, int, int]:
        from django.db import connection, transaction
        from django.utils import timezone

        from django_leadpixel.models import Click, Message, Open, Visit

        rng = self.rng
        now = timezone.now()
        opens = clicks = visits = 0
        pending_open: list = []
        pending_click: list = []
        for start in range(0, self.n_messages, batch):
            size = min(batch, self.n_messages - start)
            messages = [
                Message(public_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                        recipient=self._recipient(start + i, rng.choice(DOMAINS)),
                        subject=rng.choice(SUBJECTS), campaign=rng.choice(CAMPAIGNS),
                        sent_at=now - timedelta(days=rng.uniform(1, 120)),
                        metadata={})
                for i in range(size)
            ]
            with transaction.atomic():
                Message.objects.bulk_create(messages)  # PostgreSQL returns the ids
                for msg in messages:
                    for event in self.events_for(msg, rng.choice(MAILBOXES)):
                        (pending_open if isinstance(event, Open) else pending_click).append(event)
                pending_visit = self.visits_for(pending_click)
                opens += len(pending_open)
                clicks += len(pending_click)
                visits += len(pending_visit)
                Open.objects.bulk_create(pending_open, batch_size=batch)
                Click.objects.bulk_create(pending_click, batch_size=batch)
                Visit.objects.bulk_create(pending_visit, batch_size=batch)
                pending_open.clear()
                pending_click.clear()
            done = start + size
            if done % (batch * 4) == 0 or done == self.n_messages:
                print(f"  {done} messages, {opens + clicks + visits} events", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        return self.n_messages, opens, clicks, visits

    def _recipient(self, n: int, domain: str) -> str:
        if not self.people:
            return f"user{n}@{domain}"
        person = self.visit_rng.randrange(self.people)
        return f"user{person}@{DOMAINS[person % len(DOMAINS)]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--people", type=int, default=None,
                        help="Recipients the messages go to (default: one per message).")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from django_leadpixel.models import KINDS, Message

    if connection.vendor != "postgresql":
        sys.exit("seed.py fills PostgreSQL; set LEADPIXEL_DB=postgres (the default here)")
    started = time.perf_counter()
    with connection.cursor() as cursor:  # start clean; TRUNCATE is instant where DELETE is not
        # Every kind's table: each refers to the messages.
        cursor.execute("TRUNCATE " + ", ".join(
            m._meta.db_table for m in (*KINDS.values(), Message)))
    messages, opens, clicks, visits = Seeder(args.messages, args.events, args.seed,
                                             args.people).run()
    elapsed = time.perf_counter() - started
    print(f"seeded {connection.settings_dict['NAME']}: {messages} messages, {opens} opens, "
          f"{clicks} clicks, {visits} visits ({opens + clicks + visits} events) in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
