"""Index audit of the event tables: which named query uses which index, what each buys, what
each costs an insert. On a seeded PostgreSQL database (see benchmarks/seed.py).

Run from the repository root, by hand (the test suite does not run it):

    PGDATABASE=lp_bench python benchmarks/seed.py          # once: 100,000 messages, ~1M events
    PGDATABASE=lp_bench python benchmarks/indexes.py [--repeat 5] [--inserts 2000]
        [--rounds 5] [--together NAME,NAME ...] [--json out.json]
    PGDATABASE=lp_bench python benchmarks/indexes.py --arrival-copy lp_bench_arrival
        # a copy in production row order (see arrival_copy), to run the audit on

1. Every secondary index of the open and click tables is listed from the catalog (what
   PostgreSQL really has, the foreign key's own index included), with its size.
2. Each named query (admin pages and their filters, API endpoints, the report, the jobs) is
   run through the real code path (the test client on pages, the job or queryset itself
   otherwise) inside a transaction that is rolled back, with ``CaptureQueriesContext``.
   Each statement that reads or writes an event table is run again under ``EXPLAIN
   (ANALYZE, BUFFERS, FORMAT JSON)``: the indexes of its plan are recorded, and its
   execution time is the median of ``--repeat`` runs of ``EXPLAIN (ANALYZE, TIMING OFF)``
   (per-node timing would inflate a sequential scan's time more than an index probe's).
3. For each secondary index, every statement whose plan used it, and every DELETE or
   UPDATE of an event table (their foreign-key triggers and index upkeep use indexes that
   no plan shows), is timed with the index and without it (``BEGIN; DROP INDEX ...;
   EXPLAIN ...; ROLLBACK``), alternating, ``--repeat`` times each: what the index buys,
   and which index the plan takes instead. ``--together`` (repeatable) drops a proposed
   set at once and re-times the statements that used any of it, and the writes.
4. Insert cost: ``--inserts`` single-row INSERTs of an open (and of a click), the pixel's
   own prepared ``INSERT ... SELECT`` from the message row, in one transaction that is
   rolled back, with every index and with each index dropped; the configurations
   alternate, in a rotating order, ``--rounds`` times; the median rows/s is reported.
   One more run with every index commits each row, as the pixel does, to show what the
   commit adds.

Statements that prepare a job's data first (``setup``: a backlog of events waiting for
enrichment, as the pixel leaves them) run in the same transaction, before the EXPLAIN.
For the run, one message that a bot hammered (20,000 opens and 20,000 clicks) is added,
and removed at the end. The event tables are VACUUMed between steps: every rolled-back
EXPLAIN or insert leaves dead rows, which would otherwise slow the scans measured later.
Findings: docs/indexes.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

use_example_project("lp_bench")

EVENT_TABLES = ("django_leadpixel_open", "django_leadpixel_click")
MESSAGE_TABLE = "django_leadpixel_message"
API = "/api/leadpixel/"
ADMIN = "/admin/django_leadpixel/"
# Events the pixel stored a moment ago, not enriched yet: the newest of each table.
BACKLOG = [
    "UPDATE django_leadpixel_open SET enriched_at = NULL WHERE id IN (SELECT id FROM "
    "django_leadpixel_open ORDER BY occurred_at DESC LIMIT 2000)",
    "UPDATE django_leadpixel_click SET enriched_at = NULL WHERE id IN (SELECT id FROM "
    "django_leadpixel_click ORDER BY occurred_at DESC LIMIT 200)",
]


DECLARE = re.compile(r"^\s*DECLARE\s+\S+\s+.*?CURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+",
                     re.IGNORECASE | re.DOTALL)
TIMEOUT_MS = 120_000


class Stop(Exception):
    """Raised from a job's progress callback: one batch is enough."""


@dataclass
class Named:
    name: str
    run: object  # callable(client) -> None
    setup: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


@dataclass
class Statement:
    query: str  # the named query's name
    number: int
    sql: str
    setup: list[str]
    indexes: list[str] = field(default_factory=list)
    ms: float = 0.0
    plan_ms: float = 0.0
    buffers: int = 0
    scans: list[str] = field(default_factory=list)

    @property
    def dml(self) -> bool:
        return self.sql.lstrip().upper().startswith(("DELETE", "UPDATE"))

    def writes(self, table: str) -> bool:
        """A DELETE or UPDATE of ``table``, or a DELETE of messages (whose foreign-key
        triggers look up the events of each one)."""
        return self.dml and (f'"{table}"' in self.sql or self.sql.lstrip().upper()
                             .startswith(f'DELETE FROM "{MESSAGE_TABLE}"'.upper()))

    @property
    def label(self) -> str:
        return f"{self.query} #{self.number}"


# --------------------------------------------------------------------------- catalog

def secondary_indexes() -> list[dict]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), "
            "pg_relation_size(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = ANY(%s) AND NOT x.indisprimary ORDER BY t.relname, i.relname",
            [list(EVENT_TABLES)])
        return [{"table": table, "name": name, "definition": definition, "bytes": size}
                for table, name, definition, size in cursor.fetchall()]


# --------------------------------------------------------------------------- named queries

def named_queries(client, depth: int, hammered) -> list[Named]:
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from django_leadpixel import history, jobs, reports
    from django_leadpixel.models import Click, Message, Open
    from django_leadpixel.reports import rollup

    message = (Message.objects.filter(opens__isnull=False, clicks__isnull=False)
               .order_by("-sent_at").first())
    campaign = message.campaign
    # As the admin's "Past 7 days" link writes them: aware midnights.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    past_week = urlencode({"occurred_at__gte": str(today - timedelta(days=7)),
                           "occurred_at__lt": str(today + timedelta(days=1))})
    newest = Open.objects.order_by("-occurred_at").values_list("occurred_at", flat=True)[0]
    newest = timezone.localtime(newest)
    last_day = urlencode({"occurred_after": (newest - timedelta(days=1)).isoformat()})
    cell = rollup.key_of(message.campaign, message.sent_at)

    deep = f"{API}opens/"
    for _ in range(depth):
        deep = client.get(deep).json()["next"]

    def page(url):
        def run(client):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            if response.streaming:
                b"".join(response.streaming_content)
        return run

    def settle(client):
        rows = list(Click.objects.filter(source__in=history.UNSETTLED)
                    .order_by("-occurred_at").only(*history.CLICK_FIELDS)[:500])
        history.settle(rows)

    def settle_hammered(client):
        rows = list(Click.objects.filter(message=hammered).order_by("-occurred_at")
                    .only(*history.CLICK_FIELDS)[:10])
        history.settle(rows)

    def reclassify(client):
        def stop(n):
            raise Stop
        try:
            # 100, not the default 500: every seeded event changes verdict, and
            # bulk_update's CASE per row and field grows with the square of the batch.
            jobs.reclassify(batch_size=100, progress=stop)
        except Stop:
            pass

    def enrich_since(client):
        call_command("leadpixel_enrich", since=(newest - timedelta(days=1)).isoformat(),
                     no_progress=True, stdout=StringIO(), stderr=StringIO())

    admin_messages = f"{ADMIN}message/"
    admin_opens = f"{ADMIN}open/"
    admin_clicks = f"{ADMIN}click/"
    named = [
        # --- admin: messages
        ("admin message list", page(admin_messages)),
        ("admin message list, status=person", page(admin_messages + "?status=person")),
        ("admin message list, status=unopened", page(admin_messages + "?status=unopened")),
        ("admin message list, via Google proxy", page(admin_messages + "?google_proxy=yes")),
        ("admin message list, not via Google proxy", page(admin_messages + "?google_proxy=no")),
        ("admin message list, opened via apple_mpp",
         page(admin_messages + "?opened_via=apple_mpp")),
        ("admin message list, campaign",
         page(admin_messages + f"?campaign__exact={campaign}")),
        ("admin message list, search", page(admin_messages + "?q=user42")),
        ("admin message list, sorted by opens by people", page(admin_messages + "?o=-7")),
        ("admin message change page (timeline)",
         page(f"{admin_messages}{message.pk}/change/")),
        ("admin message change page, 20,000 bot opens and clicks",
         page(f"{admin_messages}{hammered.pk}/change/")),
        # --- admin: opens and clicks
        ("admin open list", page(admin_opens)),
        ("admin open list, source=google_proxy", page(admin_opens + "?source__exact=google_proxy")),
        ("admin open list, source=human", page(admin_opens + "?source__exact=human")),
        ("admin open list, source=bot", page(admin_opens + "?source__exact=bot")),
        ("admin open list, masked", page(admin_opens + "?masked__exact=1")),
        ("admin open list, device mobile", page(admin_opens + "?device_type=mobile")),
        ("admin open list, past 7 days", page(
            admin_opens + f"?{past_week}")),
        ("admin open list, date hierarchy day", page(
            admin_opens + f"?occurred_at__year={newest.year}&occurred_at__month="
            f"{newest.month}&occurred_at__day={newest.day}")),
        ("admin open list, sorted by source", page(admin_opens + "?o=3")),
        ("admin open list, sorted by message", page(admin_opens + "?o=2")),
        ("admin open list, search recipient", page(admin_opens + "?q=user42")),
        ("admin click list", page(admin_clicks)),
        ("admin click list, source=human", page(admin_clicks + "?source__exact=human")),
        ("admin click list, sorted by source", page(admin_clicks + "?o=3")),
        # --- admin: report (computed from the events: no rollup in the seeded database)
        ("admin report, last 30 days", page(f"{admin_messages}report/")),
        ("admin report, one campaign, all time",
         page(f"{admin_messages}report/?start=&campaign={campaign}")),
        ("admin events CSV, one campaign, all time",
         page(f"{admin_messages}report/events.csv?start=&campaign={campaign}")),
        # --- API
        ("API messages/", page(f"{API}messages/")),
        ("API messages/, status=person", page(f"{API}messages/?status=person")),
        ("API messages/, page 200", page(f"{API}messages/?page=200")),
        ("API message detail", page(f"{API}messages/{message.public_id}/")),
        ("API message events", page(f"{API}messages/{message.public_id}/events/")),
        ("API message events, 20,000 bot opens and clicks",
         page(f"{API}messages/{hammered.public_id}/events/")),
        ("API opens/", page(f"{API}opens/")),
        (f"API opens/, page {depth + 1}", page(deep)),
        ("API opens/, source=google_proxy", page(f"{API}opens/?source=google_proxy")),
        ("API opens/, source=human,bot", page(f"{API}opens/?source=human&source=bot")),
        ("API opens/, source=bot", page(f"{API}opens/?source=bot")),
        ("API opens/, campaign", page(f"{API}opens/?campaign={campaign}")),
        ("API opens/, message", page(f"{API}opens/?message={message.public_id}")),
        ("API opens/, last day", page(f"{API}opens/?{last_day}")),
        ("API opens/, country=SE", page(f"{API}opens/?country=se")),
        ("API opens/, ordering=source", page(f"{API}opens/?ordering=source")),
        ("API opens/, ordering=-source", page(f"{API}opens/?ordering=-source")),
        ("API opens/, ordering=occurred_at", page(f"{API}opens/?ordering=occurred_at")),
        ("API clicks/", page(f"{API}clicks/")),
        ("API clicks/, human, mobile", page(f"{API}clicks/?source=human&device_type=mobile")),
        ("API clicks/, source=bot", page(f"{API}clicks/?source=bot")),
        ("API clicks/, ordering=source", page(f"{API}clicks/?ordering=source")),
        ("API stats/, all", page(f"{API}stats/")),
        ("API stats/, campaign", page(f"{API}stats/?campaign={campaign}")),
        # --- querysets, reports and jobs
        ("with_stats().with_status(), first 50",
         lambda c: list(Message.objects.with_stats().with_status()[:50])),
        ("rollup: rebuild one cell", lambda c: reports.partial(rollup.messages_of([cell]))),
        ("rollup: out-of-date check, no backlog", lambda c: rollup.out_of_date_keys()),
        Named("rollup: out-of-date check, backlog", lambda c: rollup.out_of_date_keys(),
              setup=BACKLOG),
        ("enrichment sweep, no backlog", lambda c: jobs.sweep(max_batches=1)),
        Named("enrichment sweep, one batch of the backlog",
              lambda c: jobs.sweep(max_batches=1), setup=BACKLOG),
        Named("leadpixel_enrich --since a day ago, backlog", enrich_since, setup=BACKLOG),
        ("purge (sent over 119 days ago)", lambda c: jobs.purge(days=119)),
        ("erase a recipient", lambda c: jobs.erase_recipient(message.recipient)),
        ("settle 500 recent clicks", settle),
        ("settle 10 clicks of a message with 20,000 bot clicks", settle_hammered),
        ("reclassify, first batch of 100 messages", reclassify),
    ]
    return [item if isinstance(item, Named) else Named(*item) for item in named]


HAMMERED = "hammered@bench.example"


def add_hammered():
    """One more message, sent ten days ago, that a bot hammered: 20,000 opens and 20,000
    clicks, a second apart.

    Committed for the whole run (inserting it for each EXPLAIN would leave
    dead rows behind every rollback); ``remove_hammered`` deletes it.
    """
    from django.db import connection
    from django.utils import timezone

    from django_leadpixel.models import Message

    remove_hammered()
    message = Message.objects.create(recipient=HAMMERED, subject="Hammered", campaign="",
                                     sent_at=timezone.now() - timedelta(days=10))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_leadpixel_open (id, message_id, occurred_at, source, reason, "
            "operator, method, ip, user_agent, anonymous, enriched_at, masked, geo_status, "
            "country, region, city, as_org, device_type, os, os_version, browser, "
            "browser_version, mail_client) SELECT gen_random_uuid(), m.id, m.sent_at + g * "
            "interval '1 second', 'bot', 'HTTP library', '', 'GET', '203.0.113.9', "
            "'python-requests/2.31.0', FALSE, m.sent_at + g * interval '1 second', TRUE, "
            "'masked', '', '', '', '', '', '', '', '', '', '' FROM django_leadpixel_message m, "
            "generate_series(1, 20000) g WHERE m.id = %s", [message.pk])
        # ... and clicked its one link 20,000 times, a second apart too.
        cursor.execute(
            "INSERT INTO django_leadpixel_click (id, message_id, occurred_at, source, reason, "
            "operator, method, ip, user_agent, anonymous, enriched_at, masked, geo_status, "
            "country, region, city, as_org, device_type, os, os_version, browser, "
            "browser_version, mail_client, url, position, honeypot) SELECT gen_random_uuid(), "
            "m.id, m.sent_at + g * interval '1 second' + interval '0.5 second', 'bot', "
            "'HTTP library', '', 'GET', '203.0.113.9', 'python-requests/2.31.0', FALSE, "
            "m.sent_at + g * interval '1 second', TRUE, 'masked', '', '', '', '', '', '', '', "
            "'', '', '', 'https://shop.example.com/offer', 0, FALSE "
            "FROM django_leadpixel_message m, generate_series(1, 20000) g WHERE m.id = %s",
            [message.pk])
    vacuum(analyze=True)
    return message


def remove_hammered() -> None:
    from django_leadpixel.models import Click, Message, Open

    ids = list(Message.objects.filter(recipient=HAMMERED).values_list("pk", flat=True))
    if ids:
        Open.objects.filter(message_id__in=ids).delete()
        Click.objects.filter(message_id__in=ids).delete()
        Message.objects.filter(pk__in=ids).delete()


def vacuum(analyze: bool = False) -> None:
    """Clear the dead rows that rolled-back EXPLAINs and inserts leave behind."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in EVENT_TABLES:
            cursor.execute(f'VACUUM {"ANALYZE " if analyze else ""}"{table}"')


def capture(named: Named, client) -> list[str]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic():
        run_sql(named.setup)
        with CaptureQueriesContext(connection) as ctx:
            named.run(client)
        transaction.set_rollback(True)
    seen, out = set(), []
    for query in ctx.captured_queries:
        sql = query["sql"] or ""
        head = sql.lstrip().upper()
        if head.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "PREPARE", "EXECUTE")):
            continue
        # A server-side cursor (``iterator()``) is logged as its DECLARE.
        sql = DECLARE.sub("", sql, count=1)
        deletes_messages = head.startswith(f'DELETE FROM "{MESSAGE_TABLE}"'.upper())
        if not (deletes_messages or any(f'"{table}"' in sql for table in EVENT_TABLES)):
            continue
        if sql not in seen:
            seen.add(sql)
            out.append(sql)
    return out


def run_sql(statements: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


# --------------------------------------------------------------------------- EXPLAIN

def walk(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from walk(child)


def explain(sql: str, setup: list[str], drop: tuple[str, ...] = (), *,
            analyze_timing: bool = False) -> dict:
    """One EXPLAIN ANALYZE in a transaction that is rolled back (so DML changes nothing)."""
    from django.db import OperationalError, connection, transaction

    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze_timing \
        else "ANALYZE, TIMING OFF, FORMAT JSON"
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for name in drop:
                    cursor.execute(f'DROP INDEX "{name}"')
                for statement in setup:
                    cursor.execute(statement)
                cursor.execute(f"SET LOCAL statement_timeout = {TIMEOUT_MS}")
                cursor.execute(f"EXPLAIN ({options}) {sql}")
                (result,), = cursor.fetchall()
            transaction.set_rollback(True)
    except OperationalError as exc:  # statement_timeout
        if "statement timeout" not in str(exc):
            raise
        return {"ms": float(TIMEOUT_MS), "planning_ms": 0.0, "indexes": [],
                "scans": ["(cancelled at the timeout)"], "buffers": 0}
    result = result[0] if isinstance(result, list) else json.loads(result)[0]
    nodes = list(walk(result["Plan"]))
    return {
        "ms": result["Execution Time"],
        "planning_ms": result["Planning Time"],
        "indexes": sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
        "scans": sorted({f"{n['Node Type']} on {n['Relation Name']}" for n in nodes
                         if n.get("Node Type") == "Seq Scan"}),
        "buffers": result["Plan"].get("Shared Hit Blocks", 0)
        + result["Plan"].get("Shared Read Blocks", 0),
    }


def median_ms(sql: str, setup: list[str], repeat: int, drop: tuple[str, ...] = ()) -> float:
    return statistics.median(explain(sql, setup, drop)["ms"] for _ in range(repeat))


# --------------------------------------------------------------------------- inserts

def insert_cost(kind: str, configs: list[tuple[str, tuple[str, ...]]], n: int, rounds: int,
                seed: int = 7) -> dict[str, list[float]]:
    """rows/s of ``n`` single-row pixel INSERTs per configuration, one list per config."""
    from django.db import connection, transaction
    from django.utils import timezone

    from django_leadpixel import sql as prepared
    from django_leadpixel.classify import Verdict
    from django_leadpixel.ingest import direct, events
    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.models import Message

    rng = random.Random(seed)
    plan = direct.plan(kind, connection.alias)
    name, prepare, execute = prepared.statement(plan.sql, plan.types)
    # Recently sent messages (events arrive in the days after sending).
    recent = list(Message.objects.filter(sent_at__gte=timezone.now() - timedelta(days=4))
                  .values_list("public_id", flat=True))
    verdicts = ([Verdict("google_proxy", "Google Image Proxy", "Google")] * 30
                + [Verdict("apple_mpp", "Apple Mail Privacy Protection", "Apple")] * 30
                + [Verdict("human", "Browser or mail app on a person's device")] * 34
                + [Verdict("bot", "HTTP library")] * 6) if kind == "open" else \
        [Verdict("human", "Browser")] * 60 + [Verdict("scanner", "Link scanner", "Kaspersky")] * 40
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0"

    def params_list() -> list[list]:
        out = []
        for _ in range(n):
            hit = Hit(kind=kind, message_id=rng.choice(recent), user_agent=ua,
                      ip=f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                      url="https://shop.example.com/offer" if kind == "click" else "")
            stored = events.stored_fields(hit, rng.choice(verdicts), True)
            since, until = direct.repeat_range(hit)
            out.append(prepared.params_of(plan.slots, {
                **stored, "public_id": hit.message_id, "repeat_since": since,
                "repeat_until": until}, connection))
        return out

    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
        cursor.execute(prepare)
    results: dict[str, list[float]] = {label: [] for label, _ in configs}
    with transaction.atomic():  # warm-up, not counted
        with connection.cursor() as cursor:
            for params in params_list():
                cursor.execute(execute, params)
        transaction.set_rollback(True)
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for label, drop in order:
            batch = params_list()
            with transaction.atomic():
                with connection.cursor() as cursor:
                    for index in drop:
                        cursor.execute(f'DROP INDEX "{index}"')
                    started = time.perf_counter()
                    for params in batch:
                        cursor.execute(execute, params)
                    elapsed = time.perf_counter() - started
                transaction.set_rollback(True)
            results[label].append(n / elapsed)
            vacuum()
    return results


def autocommit_inserts(kind: str, n: int, seed: int = 11) -> float:
    """rows/s of ``n`` pixel INSERTs, each committed (every index); the rows are deleted."""
    from django.db import connection
    from django.utils import timezone

    from django_leadpixel import sql as prepared
    from django_leadpixel.classify import Verdict
    from django_leadpixel.ingest import direct, events
    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.models import KINDS, Message

    rng = random.Random(seed)
    plan = direct.plan(kind, connection.alias)
    _name, prepare, execute = prepared.statement(plan.sql, plan.types)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
        cursor.execute(prepare)
    recent = list(Message.objects.filter(sent_at__gte=timezone.now() - timedelta(days=4))
                  .values_list("public_id", flat=True))
    ids, batch = [], []
    for _ in range(n):
        # A different reader each time: identical hits would be counted as repeats.
        hit = Hit(kind=kind, message_id=rng.choice(recent),
                  ip=f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                  user_agent="Mozilla/5.0", url="https://shop.example.com/offer")
        since, until = direct.repeat_range(hit)
        batch.append(prepared.params_of(plan.slots, {
            **events.stored_fields(hit, Verdict("human", "Browser"), True),
            "public_id": hit.message_id, "repeat_since": since, "repeat_until": until},
            connection))
        ids.append(hit.id)
    assert connection.get_autocommit()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for params in batch:
            cursor.execute(execute, params)
        elapsed = time.perf_counter() - started
    KINDS[kind].objects.filter(pk__in=ids).delete()
    return n / elapsed


# --------------------------------------------------------------------------- arrival order

def arrival_copy(source: str, target: str) -> None:
    """Copy ``source`` to ``target`` with the rows laid out as production writes them.

    seed.py inserts each message's events together, so the heap is ordered by
    message (the planner sees ``message_id`` correlated ~1.0 with the row order,
    which favours single-column indexes on it) and message ids do not follow
    sending time. In production the pixel appends events as they happen and
    ids grow with sending time. The copy renumbers messages by ``sent_at`` and
    rewrites each table in time order (CLUSTER: its indexes are rebuilt compact).
    """
    import os

    import psycopg

    params = dict(host=os.environ.get("PGHOST", "127.0.0.1"),
                  port=os.environ.get("PGPORT", "5432"),
                  user=os.environ.get("PGUSER", "postgres"),
                  password=os.environ.get("PGPASSWORD", ""), autocommit=True)
    with psycopg.connect(dbname="postgres", **params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}"')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    steps = [
        "CREATE TEMP TABLE renumber AS SELECT id AS old, 100000000 + row_number() OVER "
        "(ORDER BY sent_at, id) AS new FROM django_leadpixel_message",
        "BEGIN",
        "SET CONSTRAINTS ALL DEFERRED",
        "UPDATE django_leadpixel_message m SET id = r.new FROM renumber r WHERE m.id = r.old",
        *(f"UPDATE {t} e SET message_id = r.new FROM renumber r WHERE e.message_id = r.old"
          for t in EVENT_TABLES),
        "COMMIT",
        "SELECT setval(pg_get_serial_sequence('django_leadpixel_message', 'id'), "
        "(SELECT max(id) FROM django_leadpixel_message))",
        "CLUSTER django_leadpixel_message USING leadpixel_msg_sent",
        *(f"CLUSTER {t} USING {t.replace('django_leadpixel', 'leadpixel')}_time"
          for t in EVENT_TABLES),
        "VACUUM ANALYZE",
    ]
    with psycopg.connect(dbname=target, **params) as conn:
        for sql in steps:
            started = time.perf_counter()
            conn.execute(sql)
            print(f"  {time.perf_counter() - started:6.1f} s  {sql[:90]}", flush=True)


# --------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="EXPLAIN runs per timing")
    parser.add_argument("--depth", type=int, default=200, help="cursor pages to follow")
    parser.add_argument("--inserts", type=int, default=2000, help="rows per insert run")
    parser.add_argument("--rounds", type=int, default=5, help="insert rounds")
    parser.add_argument("--together", action="append", default=[], metavar="NAME,NAME",
                        help="indexes to drop together (a proposed set); may be repeated")
    parser.add_argument("--skip-inserts", action="store_true")
    parser.add_argument("--only", default="", help="only named queries containing this text")
    parser.add_argument("--json", help="write the raw results to this file")
    parser.add_argument("--arrival-copy", metavar="NAME",
                        help="only copy the database to NAME in production row order, then "
                             "exit (run again with PGDATABASE=NAME)")
    args = parser.parse_args()
    if args.arrival_copy:
        import os

        arrival_copy(os.environ["PGDATABASE"], args.arrival_copy)
        return

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection
    from django.test import Client

    import django_leadpixel
    from django_leadpixel.models import Click, Message, Open

    if connection.vendor != "postgresql":
        sys.exit("indexes.py audits PostgreSQL; set LEADPIXEL_DB=postgres (the default here)")
    call_command("migrate", interactive=False, verbosity=0)
    # Pages run inside rolled-back transactions: keep the request signals from closing
    # the connection (Django's own test runner does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-index", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('shared_buffers'), "
                       "current_setting('work_mem')")
        version, shared_buffers, work_mem = cursor.fetchone()
    out: dict = {
        "package": django_leadpixel.__file__, "database": connection.settings_dict["NAME"],
        "server": version, "shared_buffers": shared_buffers, "work_mem": work_mem,
        "messages": Message.objects.count(), "opens": Open.objects.count(),
        "clicks": Click.objects.count(), "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(f"package {out['package']}")
    print(f"database {out['database']}: {out['messages']} messages, {out['opens']} opens, "
          f"{out['clicks']} clicks; {version.split(' on ')[0]}, shared_buffers "
          f"{shared_buffers}, work_mem {work_mem}; EXPLAIN median of {args.repeat}")
    indexes = secondary_indexes()
    out["indexes"] = indexes
    print("\nsecondary indexes of the event tables:")
    for index in indexes:
        print(f"  {index['name']:42} {index['bytes'] / 2**20:6.1f} MiB  {index['definition']}")

    add_hammered()
    try:
        run_all(args, client, indexes, out)
    finally:
        remove_hammered()
        vacuum(analyze=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        print(f"\nraw results: {args.json}")


def run_all(args, client, indexes: list[dict], out: dict) -> None:
    from django_leadpixel.models import Message

    hammered = Message.objects.get(recipient=HAMMERED)
    catalog = {index["name"] for index in indexes}
    # 1. capture and explain
    statements: list[Statement] = []
    print("\nnamed queries (statements on event tables; execution ms; indexes used):")
    for named in named_queries(client, args.depth, hammered):
        if args.only and args.only not in named.name:
            continue
        capture(named, client)  # warm-up (rolled back like the real run)
        sqls = capture(named, client)
        total, used = 0.0, set()
        for number, sql in enumerate(sqls, 1):
            st = Statement(named.name, number, sql, named.setup)
            plan = explain(sql, named.setup, analyze_timing=True)
            st.indexes, st.buffers = plan["indexes"], plan["buffers"]
            st.plan_ms = plan["planning_ms"]
            st.ms = median_ms(sql, named.setup, args.repeat)
            st.scans = plan["scans"]
            statements.append(st)
            total += st.ms
            used.update(st.indexes)
        event_indexes = sorted(i for i in used if i in catalog
                               or i in (f"{t}_pkey" for t in EVENT_TABLES))
        print(f"  {named.name:48} {len(sqls):>2} st {total:>9.1f} ms  "
              f"{', '.join(event_indexes) or '-'}", flush=True)
        vacuum()
    out["statements"] = [
        {"query": s.query, "number": s.number, "sql": s.sql, "indexes": s.indexes,
         "ms": s.ms, "planning_ms": s.plan_ms, "buffers": s.buffers, "seq_scans": s.scans,
         "dml": s.dml}
        for s in statements]

    # 2. each index dropped
    print("\neach secondary index dropped (statements that used it, and every DELETE/UPDATE "
          "of its table):")
    out["drops"] = {}
    for index in indexes:
        name, table = index["name"], index["table"]
        rows = []
        for st in statements:
            if name not in st.indexes and not st.writes(table):
                continue
            with_ms, without_ms = [], []
            for _ in range(args.repeat):
                with_ms.append(explain(st.sql, st.setup)["ms"])
                without_ms.append(explain(st.sql, st.setup, (name,))["ms"])
            instead = explain(st.sql, st.setup, (name,), analyze_timing=True)
            row = {"statement": st.label, "used": name in st.indexes,
                   "with_ms": statistics.median(with_ms),
                   "without_ms": statistics.median(without_ms),
                   "instead": instead["indexes"], "seq_scans": instead["scans"]}
            rows.append(row)
        out["drops"][name] = rows
        vacuum()
        print(f"  {name}:")
        for row in rows:
            print(f"    {row['statement']:54} {row['with_ms']:>9.2f} -> "
                  f"{row['without_ms']:>9.2f} ms {'' if row['used'] else '(DML) '}"
                  f"instead: {', '.join(row['instead'] + row['seq_scans']) or '-'}")

    # 3. proposed sets, each dropped together
    sets = [tuple(n for n in text.split(",") if n) for text in args.together]
    out["together"] = []
    for together in sets:
        print(f"\ndropped together: {', '.join(together)} (statements that used any, and "
              "every DELETE/UPDATE of their tables):")
        tables = {i["table"] for i in indexes if i["name"] in together}
        rows = []
        for st in statements:
            if not set(together) & set(st.indexes) and not any(map(st.writes, tables)):
                continue
            with_ms, without_ms = [], []
            for _ in range(args.repeat):
                with_ms.append(explain(st.sql, st.setup)["ms"])
                without_ms.append(explain(st.sql, st.setup, together)["ms"])
            instead = explain(st.sql, st.setup, together, analyze_timing=True)
            rows.append({"statement": st.label, "with_ms": statistics.median(with_ms),
                         "without_ms": statistics.median(without_ms),
                         "indexes": st.indexes, "instead": instead["indexes"]})
            row = rows[-1]
            flag = "  SLOWER" if row["without_ms"] > 1.5 * row["with_ms"] + 1 else ""
            print(f"    {row['statement']:54} {row['with_ms']:>9.2f} -> "
                  f"{row['without_ms']:>9.2f} ms{flag}")
        out["together"].append({"dropped": together, "statements": rows})
        vacuum()

    # 4. insert cost
    if not args.skip_inserts:
        out["inserts"] = {}
        for kind, table in (("open", "django_leadpixel_open"),
                            ("click", "django_leadpixel_click")):
            names = [i["name"] for i in indexes if i["table"] == table]
            configs = [("all indexes", ())] + [(f"without {n}", (n,)) for n in names]
            for together in sets:
                mine = tuple(n for n in together if n in names)
                if len(mine) > 1:
                    configs.append((f"without {', '.join(mine)}", mine))
            configs.append(("primary key only", tuple(names)))
            results = insert_cost(kind, configs, args.inserts, args.rounds)
            committed = autocommit_inserts(kind, args.inserts)
            base = statistics.median(results["all indexes"])
            print(f"\n{kind} INSERTs ({args.inserts} rows x {args.rounds} rounds, one "
                  f"transaction, rolled back; median rows/s):")
            for label, values in results.items():
                med = statistics.median(values)
                print(f"  {label:52} {med:>8.0f} rows/s  {1e6 / med:>6.1f} µs/row  "
                      f"saves {(1e6 / base - 1e6 / med):>6.1f} µs/row")
            print(f"  {'all indexes, each row committed':52} {committed:>8.0f} rows/s  "
                  f"{1e6 / committed:>6.1f} µs/row")
            out["inserts"][kind] = {"runs": results, "committed_rows_per_s": committed}


if __name__ == "__main__":
    main()
