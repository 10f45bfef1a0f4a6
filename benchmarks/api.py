"""Requests per second of the REST API's list and stats endpoints on PostgreSQL.

Run from the repository root, by hand (the test suite does not run it), on the
data set of benchmarks/seed.py (100,000 messages, about a million events):

    PGDATABASE=lp_bench python benchmarks/seed.py              # once
    PGDATABASE=lp_bench python benchmarks/api.py [--rounds 20]
    PGDATABASE=lp_api_bench python benchmarks/api.py --seed 200000   # seed its own data first

Each URL is fetched through Django's test client as a logged-in staff user (full
middleware, DRF, serialization and every query; no network), twice to warm up,
then ``--rounds`` times in one thread. Reported: median and slowest latency,
requests per second of one worker (1000 / median ms), queries per request, and
for cursor lists the cost of a page deep in the table (following ``next``
``--depth`` times first), which stays flat with keyset pagination.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from benchenv import ROOT, use_example_project  # noqa: E402  (benchmarks/benchenv.py)

use_example_project("lp_bench")

from timing import time_page  # noqa: E402  (benchmarks/timing.py)

API = "/api/leadpixel/"


def urls(client, depth: int) -> list[tuple[str, str]]:
    from django_leadpixel.models import Message

    message = (Message.objects.filter(opens__isnull=False).order_by("-sent_at").first()
               or Message.objects.order_by("-sent_at").first())
    campaign = message.campaign
    out = [
        ("messages", f"{API}messages/"),
        ("messages, status=person", f"{API}messages/?status=person"),
        ("messages, campaign", f"{API}messages/?campaign={campaign}"),
        ("messages, page 200", f"{API}messages/?page=200"),
        ("message detail", f"{API}messages/{message.public_id}/"),
        ("message events", f"{API}messages/{message.public_id}/events/"),
        ("opens", f"{API}opens/"),
        ("opens, google_proxy", f"{API}opens/?source=google_proxy"),
        ("opens, campaign", f"{API}opens/?campaign={campaign}"),
        ("opens, ordering=source", f"{API}opens/?ordering=source"),
        ("clicks", f"{API}clicks/"),
        ("clicks, human, mobile", f"{API}clicks/?source=human&device_type=mobile"),
        ("stats, all", f"{API}stats/"),
        ("stats, campaign", f"{API}stats/?campaign={campaign}"),
    ]
    # A page deep in the table: follow "next" depth times.
    url = f"{API}opens/"
    for _ in range(depth):
        url = client.get(url).json()["next"]
    out.insert(10, (f"opens, page {depth + 1}", url))
    return out


def measure(rounds: int, depth: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from django_leadpixel.models import Click, Message, Open

    call_command("migrate", interactive=False, verbosity=0)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-api", defaults={"is_staff": True, "is_superuser": True})
    if not Message.objects.exists():
        sys.exit("The database is empty: run benchmarks/seed.py first, or pass --seed N.")
    client = Client()
    client.force_login(user)
    print(f"database {connection.settings_dict['NAME']}: {Message.objects.count()} messages, "
          f"{Open.objects.count()} opens, {Click.objects.count()} clicks; {rounds} rounds")
    print(f"{'endpoint':28} {'median ms':>10} {'max ms':>8} {'req/s':>7} {'queries':>8}")
    for name, url in urls(client, depth):
        times, queries = time_page(client, url, rounds)
        median = statistics.median(times)
        print(f"{name:28} {median:>10.1f} {max(times):>8.1f} {1000 / median:>7.0f} "
              f"{queries:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--depth", type=int, default=200,
                        help="pages to follow before timing a deep cursor page")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="first fill the database with about N events (benchmarks/seed.py)")
    args = parser.parse_args()
    if args.seed:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "seed.py"),
                        "--events", str(args.seed),
                        "--messages", str(max(args.seed // 10, 1))], check=True)
    measure(args.rounds, args.depth)


if __name__ == "__main__":
    main()
