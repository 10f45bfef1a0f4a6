"""What the request budget (``REQUEST_DB_TIMEOUT``) costs the pixel, by way of applying it.

Run by hand (PostgreSQL on 127.0.0.1, user postgres):

    .venv/bin/python benchmarks/request_budget.py                  # 8 rounds x 500 pixels each
    .venv/bin/python benchmarks/request_budget.py --rounds 12 --n 1000

Pixels go through Django's WSGI handler with the example project's settings and
middleware (DEBUG off, no server, no socket; enrichment off), on one database
connection, against a PostgreSQL database of its own (``--database``). The ways
of applying the budget take turns, round after round, in a rotating order, so
drift of the machine falls on all of them alike:

- ``none``: no budget (``REQUEST_DB_TIMEOUT = None``): ``EXECUTE`` alone;
- ``one-trip``: what ships: ``SET LOCAL statement_timeout …; SET LOCAL
  lock_timeout …; EXECUTE …`` in one query string (one round trip);
- ``tx-set-local``: a short transaction: ``BEGIN``, the two ``SET LOCAL`` in one
  string, the statement (not prepared: the request path prepares in
  autocommit only), ``COMMIT``: four round trips;
- ``tx-set-config``: what ships inside a transaction (``ATOMIC_REQUESTS``,
  server-side binding): ``BEGIN``, save and ``set_config``, the statement,
  restore, ``COMMIT``.

Prints, per way, the median time of one pixel over every request, the spread
of the per-round medians (min–max) and p10–p90 of all requests, and the
median's difference from ``none``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

from benchenv import ROOT, environ_for  # noqa: E402  (benchmarks/benchenv.py)

sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]
WAYS = ("none", "one-trip", "tx-set-local", "tx-set-config")



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--n", type=int, default=500, help="pixels per way per round")
    parser.add_argument("--database", default="lp_budgetbench", help="PostgreSQL database")
    parser.add_argument("--show-sql", action="store_true", help="print one request's SQL per way")
    args = parser.parse_args()

    os.environ.update(DJANGO_SETTINGS_MODULE="example_project.settings", DJANGO_DEBUG="0",
                      DJANGO_SECRET_KEY="leadpixel-bench-not-secret", LEADPIXEL_DB="postgres",
                      PGHOST=os.environ.get("PGHOST", "127.0.0.1"), PGDATABASE=args.database,
                      PGUSER=os.environ.get("PGUSER", "postgres"))
    import psycopg

    with psycopg.connect(host=os.environ["PGHOST"], user=os.environ["PGUSER"], dbname="postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s",
                            (args.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{args.database}"')

    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    from django_leadpixel import tokens
    from django_leadpixel.ingest import budget
    from django_leadpixel.models import Message, Open

    call_command("migrate", verbosity=0)
    message = Message.objects.create(recipient="bench@example.com", subject="budget",
                                     campaign="budget")
    path = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    handler = WSGIHandler()

    def pixel() -> float:
        started = time.perf_counter()
        response = handler(environ_for(path), lambda status, headers: None)
        b"".join(response)
        response.close()
        return time.perf_counter() - started

    real_within, real_trip = budget.within, budget.one_round_trip

    @contextlib.contextmanager
    def set_local_apart(conn, cursor):
        cursor.execute(budget.prefix(budget.milliseconds(conn)).rstrip("; "))
        yield ""

    def use(way: str) -> None:
        budget.within, budget.one_round_trip = real_within, real_trip
        if way in ("tx-set-local", "tx-set-config"):
            budget.one_round_trip = lambda conn: False
        if way == "tx-set-local":
            budget.within = set_local_apart

    lp = {**settings.LEADPIXEL, "ENRICH_ON_RECORD": False}
    if args.show_sql:
        from django.test.utils import CaptureQueriesContext

        for way in WAYS:
            use(way)
            timeout = None if way == "none" else 1.5
            with override_settings(LEADPIXEL={**lp, "REQUEST_DB_TIMEOUT": timeout}):
                pixel()
                with CaptureQueriesContext(connection) as one:
                    pixel()
            print(way, [q["sql"][:70] for q in one.captured_queries])
    results: dict[str, list[float]] = {way: [] for way in WAYS}
    round_medians: dict[str, list[float]] = {way: [] for way in WAYS}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        order = WAYS[round_ % len(WAYS):] + WAYS[:round_ % len(WAYS)]
        for way in order:
            use(way)
            timeout = None if way == "none" else 1.5
            with override_settings(LEADPIXEL={**lp, "REQUEST_DB_TIMEOUT": timeout}):
                times = [pixel() for _ in range(args.n)]
            if round_:
                results[way] += times
                round_medians[way].append(statistics.median(times))
    use("one-trip")
    stored = Open.objects.filter(message=message).count()
    expected = ((args.rounds + 1) * args.n + (2 if args.show_sql else 0)) * len(WAYS)
    assert stored == expected, (stored, expected)
    version = connection.pg_version
    connection.close()

    print(f"PostgreSQL {version}, {args.rounds} rounds x {args.n} pixels per way, "
          f"{stored} rows stored (one per request)")
    print("times of one pixel; 'vs none' is the median of each round's difference of medians "
          "(min to max over the rounds)")
    print(f"{'way':15} {'median':>9} {'round medians':>19} {'p10-p90':>17} {'vs none':>9} "
          f"{'per round':>17}")
    for way in WAYS:
        all_ = sorted(results[way])
        p10, p90 = all_[len(all_) // 10], all_[len(all_) * 9 // 10]
        lo, hi = min(round_medians[way]), max(round_medians[way])
        diffs = [a - b for a, b in zip(round_medians[way], round_medians["none"], strict=True)]
        print(f"{way:15} {statistics.median(all_) * 1e6:7.0f}us {lo * 1e6:8.0f}-{hi * 1e6:.0f}us "
              f"{p10 * 1e6:8.0f}-{p90 * 1e6:.0f}us {statistics.median(diffs) * 1e6:+7.0f}us "
              f"{min(diffs) * 1e6:+8.0f}..{max(diffs) * 1e6:+.0f}us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
