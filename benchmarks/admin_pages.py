"""Time the admin pages on a seeded PostgreSQL database (see benchmarks/seed.py).

Run from the repository root, by hand (the test suite does not run it):

    PGDATABASE=lp_bench python benchmarks/admin_pages.py [--rounds 15] [--empty-db lp_bench_empty]

Each page is fetched through Django's test client as a logged-in superuser
(full middleware, template rendering and every query; no network or browser),
twice to warm up, then ``--rounds`` times; the median and the slowest are
reported with the number of queries. With ``--empty-db`` the same pages are
also timed on an empty, migrated database (created when missing) and the
ratio seeded/empty is shown: what the millions of rows cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

use_example_project("lp_bench")

from timing import time_page  # noqa: E402  (benchmarks/timing.py)

TARGET_MS = 500


def pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from django_leadpixel.models import Message

    # The most recent message that has events (what an admin would open), or any.
    message = (Message.objects.filter(opens__isnull=False).order_by("-sent_at").first()
               or Message.objects.order_by("-sent_at").first())
    campaign = message.campaign if message else ""
    out = [
        ("message list", reverse("admin:django_leadpixel_message_changelist")),
        ("message list, status=person", reverse("admin:django_leadpixel_message_changelist")
         + "?status=person"),
        ("message list, search", reverse("admin:django_leadpixel_message_changelist")
         + "?q=user42"),
        ("open list", reverse("admin:django_leadpixel_open_changelist")),
        ("click list", reverse("admin:django_leadpixel_click_changelist")),
        ("report (default: last 30 days)", reverse("admin:django_leadpixel_message_report")),
        ("report, one campaign, all time", reverse("admin:django_leadpixel_message_report")
         + f"?start=&campaign={campaign}"),
        ("report, everything, all time", reverse("admin:django_leadpixel_message_report")
         + "?start=&end="),
    ]
    out.insert(3, ("message change page",
                   reverse("admin:django_leadpixel_message_change", args=[message.pk])))
    return out


def measure(rounds: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from django_leadpixel.models import Click, Message, Open

    call_command("migrate", interactive=False, verbosity=0)
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True})
    if not Message.objects.exists():
        # The empty database still needs one message for the change page.
        Message.objects.create(recipient="bench@example.com", subject="Empty")
    client = Client()
    client.force_login(user)
    results = {"database": connection.settings_dict["NAME"],
               "messages": Message.objects.count(), "opens": Open.objects.count(),
               "clicks": Click.objects.count(), "pages": {}}
    for name, url in pages():
        times, queries = time_page(client, url, rounds)
        results["pages"][name] = {"median_ms": round(statistics.median(times), 1),
                                  "max_ms": round(max(times), 1), "queries": queries}
    return results


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(host=os.environ.get("PGHOST", "127.0.0.1"),
                         port=os.environ.get("PGPORT", "5432"),
                         user=os.environ.get("PGUSER", "postgres"),
                         password=os.environ.get("PGPASSWORD", ""), dbname="postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--empty-db", help="also time an empty database of this name")
    parser.add_argument("--json", action="store_true", help="print raw JSON only")
    args = parser.parse_args()

    seeded = measure(args.rounds)
    if args.json:
        print(json.dumps(seeded))
        return
    empty = None
    if args.empty_db:
        ensure_database(args.empty_db)
        # A separate process: Django's connection settings are fixed at setup.
        out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--json"],
                             env={**os.environ, "PGDATABASE": args.empty_db},
                             capture_output=True, text=True, check=True).stdout
        empty = json.loads(out.strip().splitlines()[-1])
    print(f"database {seeded['database']}: {seeded['messages']} messages, {seeded['opens']} "
          f"opens, {seeded['clicks']} clicks; {args.rounds} rounds, target {TARGET_MS} ms")
    header = f"{'page':32} {'median ms':>10} {'max ms':>8} {'queries':>8}"
    if empty:
        header += f" {'empty ms':>9} {'ratio':>6}"
    print(header)
    for name, row in seeded["pages"].items():
        line = f"{name:32} {row['median_ms']:>10} {row['max_ms']:>8} {row['queries']:>8}"
        if empty and name in empty["pages"]:
            base = empty["pages"][name]["median_ms"]
            line += f" {base:>9} {row['median_ms'] / base:>6.1f}"
        if row["median_ms"] > TARGET_MS:
            line += "  OVER TARGET"
        print(line)


if __name__ == "__main__":
    main()
