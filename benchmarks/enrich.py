"""Events enriched per second by one worker: the sweep, end to end, on PostgreSQL.

Run by hand from the repository root (the test suite does not run it):

    PGDATABASE=lp_enrichbench python benchmarks/enrich.py [--events 20000]

It migrates a scratch database, stores ``--events`` opens with a realistic mix
(about half people on 50 real user agents from 400 networks, a third Gmail
proxy, Apple MPP, scanners and bots), then times ``jobs.sweep()`` (what the
Celery task runs: select a batch FOR UPDATE SKIP LOCKED, classify-free
enrichment, grouped UPDATEs) in one process:

- cold: the GeoIP and user-agent caches emptied first;
- warm: the same rows again (``enriched_at`` reset), caches kept.

GeoIP: the GeoLite2 City database of the ``[geolite2]`` extra when it is
installed (a real 60 MB file), else the small test fixture.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

os.environ["LEADPIXEL_DB"] = "postgres"
use_example_project("lp_enrichbench")

from ua_mix import USER_AGENTS, make_ips  # noqa: E402  (50 real UAs, their sources)

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", host="127.0.0.1", user="postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    ensure_database(os.environ["PGDATABASE"])

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from django_leadpixel import enrichment, jobs
    from django_leadpixel.models import Message, Open

    call_command("migrate", verbosity=0)
    Open.objects.all().delete()
    Message.objects.filter(campaign="enrich-bench").delete()
    message = Message.objects.create(recipient="bench@example.com", campaign="enrich-bench")
    rng = random.Random(7)
    ips = make_ips(400, rng)
    rows = []
    for _ in range(args.events):
        roll = rng.random()
        if roll < 0.5:
            source, ua, ip = "human", rng.choice(USER_AGENTS), rng.choice(ips)
        elif roll < 0.8:
            source, ua, ip = "google_proxy", GMAIL, "66.249.84.12"
        elif roll < 0.9:
            source, ua, ip = "apple_mpp", "Mozilla/5.0", "172.225.8.19"
        else:
            source, ua, ip = "scanner", "Kaspersky Lab CFR link resolver", "209.222.82.7"
        rows.append(Open(message=message, source=source, user_agent=ua, ip=ip,
                         occurred_at=timezone.now()))
    Open.objects.bulk_create(rows, batch_size=2000)
    print(f"GeoIP: {enrichment.resolve_geoip_paths()[0]}")
    print(f"{args.events} opens, batch {args.batch_size}, one process, PostgreSQL")

    for label, clear in (("cold", True), ("warm", False)):
        Open.objects.update(enriched_at=None)
        if clear:
            enrichment.reset_locator()
            enrichment.parse_user_agent.cache_clear()
        started = time.perf_counter()
        done = jobs.sweep(batch_size=args.batch_size)
        seconds = time.perf_counter() - started
        print(f"{label:5} {done} events in {seconds:.2f} s = {done / seconds:,.0f} events/s")
    Message.objects.filter(campaign="enrich-bench").delete()


if __name__ == "__main__":
    main()
