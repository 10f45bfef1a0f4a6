"""Profile the tracking request path: N requests through Django's WSGI handler.

Run by hand:

    .venv/bin/python benchmarks/profile_request.py               # pixel, PostgreSQL, pyinstrument
    .venv/bin/python benchmarks/profile_request.py --kind click --n 2000
    .venv/bin/python benchmarks/profile_request.py --cprofile    # flat cProfile top
    .venv/bin/python benchmarks/profile_request.py --db sqlite --enrich eager

The example project's settings (DEBUG off) and full middleware stack are used;
requests go straight to ``WSGIHandler`` (no server, no socket), so what shows
is Django + the app. ``--enrich broker`` publishes enrichment to Redis db 13
off the request path as production does (the queue is flushed afterwards);
``eager`` runs it inside the request as the example project does by default.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchenv import CHROME, ROOT, environ_for, flush_redis_db  # noqa: E402  (benchmarks/benchenv.py)

sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]



def count_queries(run, show: bool = False) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if show:
        with CaptureQueriesContext(connection) as one:
            run(1)
        for query in one.captured_queries:
            print("SQL:", query["sql"][:160])
    with CaptureQueriesContext(connection) as captured:
        run(20)
    return len(captured.captured_queries) / 20


def mount_bench_views() -> None:
    """Mount benchviews at /bench/ when the example urls do not (LEADPIXEL_BENCH_VIEWS)."""
    import types

    from django.conf import settings
    from django.urls import NoReverseMatch, clear_url_caches, include, path, reverse

    try:
        reverse("bench-gif")
        return
    except NoReverseMatch:
        pass
    base = __import__(settings.ROOT_URLCONF, fromlist=["urlpatterns"]).urlpatterns
    module = types.ModuleType("profile_bench_urls")
    module.urlpatterns = [path("bench/", include("benchviews.urls")), *base]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("pixel", "click", "gif", "insert"), default="pixel")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--database", default="lp_pixelbench", help="PostgreSQL database")
    parser.add_argument("--enrich", choices=("broker", "eager"), default="broker")
    parser.add_argument("--ingest", default=os.environ.get("LEADPIXEL_INGEST", ""))
    parser.add_argument("--cprofile", action="store_true", help="cProfile instead of pyinstrument")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-publish", action="store_true",
                        help="replace the enrichment dispatch by a no-op (to measure its cost)")
    parser.add_argument("--show-sql", action="store_true", help="print one request's SQL")
    args = parser.parse_args()

    os.environ.update(DJANGO_SETTINGS_MODULE="example_project.settings", DJANGO_DEBUG="0",
                      DJANGO_SECRET_KEY="leadpixel-profile-not-secret")
    if args.db == "postgres":
        os.environ.update(LEADPIXEL_DB="postgres", PGHOST="127.0.0.1", PGPORT="5432",
                          PGDATABASE=args.database, PGUSER=os.environ.get("PGUSER", "postgres"))
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s",
                                (args.database,)).fetchone():
                conn.execute(f'CREATE DATABASE "{args.database}"')
    else:
        import tempfile

        os.environ["SQLITE_PATH"] = str(Path(tempfile.mkdtemp()) / "profile.sqlite3")
    if args.enrich == "broker":
        os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/13"
    if args.ingest:
        os.environ["LEADPIXEL_INGEST"] = args.ingest
    os.environ["LEADPIXEL_BENCH_VIEWS"] = "1"

    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    from django_leadpixel import tokens
    from django_leadpixel.models import Click, Message, Open

    call_command("migrate", verbosity=0)
    message = Message.objects.create(recipient="profile@example.com", subject="profile",
                                     campaign="profile")
    if args.kind == "pixel":
        path = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    elif args.kind == "click":
        path = "/t/c/" + tokens.make_click_token(message.public_id,
                                                 "https://shop.example.com/offer?id=42", 3)
    else:
        from benchviews.views import BENCH_INSERT_MESSAGE

        Message.objects.get_or_create(public_id=BENCH_INSERT_MESSAGE,
                                      defaults={"recipient": "b@example.com",
                                                "campaign": "profile"})
        path = f"/bench/{args.kind}"
        mount_bench_views()
    handler = WSGIHandler()
    if args.no_publish:
        import django_leadpixel.tasks

        django_leadpixel.tasks.enqueue_enrichment = lambda kind, event_id: None

    def run(count: int) -> None:
        for _ in range(count):
            body = handler(environ_for(path, CHROME), lambda status, headers: None)
            b"".join(body)
            if hasattr(body, "close"):
                body.close()

    run(50)  # warm caches, imports, the connection
    # CPU of the whole process (the enrichment publisher thread included), unprofiled.
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run(args.n)
    time.sleep(0.5)  # let the publisher thread drain
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0 - 0.5
    queries = count_queries(run, args.show_sql)
    print(f"unprofiled: {args.n} {args.kind} requests, {wall / args.n * 1000:.3f} ms wall and "
          f"{cpu / args.n * 1000:.3f} ms process CPU per request (all threads); "
          f"{queries} SQL statements per request")
    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        run(args.n)
        profiler.disable()
        elapsed = time.perf_counter() - started
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    else:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        profiler.start()
        run(args.n)
        profiler.stop()
        elapsed = time.perf_counter() - started
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"{args.n} {args.kind} requests in {elapsed:.2f} s: "
          f"{elapsed / args.n * 1000:.3f} ms per request (profiler overhead included)")
    # Leave nothing behind (the database is the benchmark's own).
    Open.objects.filter(message__campaign="profile").delete()
    Click.objects.filter(message__campaign="profile").delete()
    Message.objects.filter(campaign="profile").delete()
    connection.close()
    if args.enrich == "broker":
        flush_redis_db(13)
    return 0


if __name__ == "__main__":
    sys.exit(main())
