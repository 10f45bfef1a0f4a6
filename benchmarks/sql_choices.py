"""The hand-written SQL of ``django_leadpixel/sql.py`` against what Django and psycopg offer.

Run by hand from the repository root (the test suite does not run it):

    PGDATABASE=lp_sqlbench python benchmarks/sql_choices.py [--rounds 9] [--parts a,b,c]

On PostgreSQL, in one process, every contender of a part once per round, the
order rotated each round (the machine is shared: compare medians and the
per-round ratios, never one pass):

a. a batch of 1,000 events (opens, then clicks; realistic values, enriched as
   ``ingest/bulk.py`` stores them) inserted with ``sql.insert_many`` against
   ``bulk_create(rows, ignore_conflicts=True)``, each in a transaction;
b. the request path's one ``INSERT ... SELECT`` (``ingest/direct.py``) through
   Django's cursor with ``sql.execute``: PREPARE/EXECUTE with client-side
   binding (the default), the plain text (``PREPARE_STATEMENTS = False``), and
   psycopg's server-side binding with its automatic preparation
   (``prepare_threshold=5``) and without it (Django's default threshold, None);
c. the enrichment of 1,000 stored opens written with ``sql.update_many``
   against ``bulk_update`` and one ``.update()`` per distinct set of values.

GeoIP (c's values): the GeoLite2 City database of the ``[geolite2]`` extra when
it is importable, else the small test fixture; how many distinct sets of
values the batch has (what grouping can share) is printed.

Figures: rows (or statements) per second of wall time, Python CPU per row
(``time.process_time``) and PostgreSQL CPU per row (the server backend's
utime + stime from ``/proc``, when the server runs on this machine). Before
timing, the contenders' stored rows are checked: the same rows (a, c), one row
per statement (b).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

os.environ["LEADPIXEL_DB"] = "postgres"
use_example_project("lp_sqlbench")

from ua_mix import USER_AGENTS, make_ips  # noqa: E402  (50 real UAs, their sources)

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
APPLE = "Mozilla/5.0"
SCANNER = "Kaspersky Lab CFR link resolver"
TICK = os.sysconf("SC_CLK_TCK")


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", host=os.environ.get("PGHOST", "127.0.0.1"),
                         user=os.environ.get("PGUSER", "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def add_server_binding_aliases() -> None:
    """Two more aliases on the same database: psycopg's server-side binding with
    its automatic preparation, and with Django's default (no preparation)."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    settings.DATABASES["server_prepared"] = {
        **default, "OPTIONS": {**default.get("OPTIONS", {}), "server_side_binding": True,
                               "prepare_threshold": 5}}
    settings.DATABASES["server_plain"] = {
        **default, "OPTIONS": {**default.get("OPTIONS", {}), "server_side_binding": True}}


# --- measuring -----------------------------------------------------------------------


class Backend:
    """CPU seconds of the PostgreSQL backend serving a Django connection."""

    def __init__(self, conn) -> None:
        conn.ensure_connection()
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        self.readable = Path(f"/proc/{self.pid}/stat").exists()

    def cpu(self) -> float | None:
        if not self.readable:
            return None
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def measure(run, backend: Backend, units: int) -> dict[str, float]:
    """Run ``run()`` once: units/s of wall time, µs of Python and PostgreSQL CPU per unit."""
    pg0, cpu0, wall0 = backend.cpu(), time.process_time(), time.perf_counter()
    run()
    wall, cpu, pg = time.perf_counter() - wall0, time.process_time() - cpu0, backend.cpu()
    result = {"rate": units / wall, "py_us": cpu / units * 1e6}
    if pg is not None:
        result["pg_us"] = (pg - pg0) / units * 1e6
    return result


def alternate(contenders: dict, rounds: int, prepare, run, label: str) -> dict[str, list[dict]]:
    """Every contender once per round, the order rotated each round."""
    names = list(contenders)
    results: dict[str, list[dict]] = defaultdict(list)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            prepare(name)
            results[name].append(run(name))
        print(f"  {label} round {r + 1}/{rounds}: "
              + ", ".join(f"{n} {results[n][-1]['rate']:,.0f}/s" for n in names), flush=True)
    return results


def summary(title: str, unit: str, results: dict[str, list[dict]], baseline: str) -> None:
    """Median (min–max) per contender, and the per-round ratio to ``baseline``."""
    print(f"\n{title}")
    print(f"| contender | {unit}/s median (min–max) | vs {baseline}: per-round ratio median (min–max) "
          f"| Python µs/{unit} | PostgreSQL µs/{unit} |")
    print("|---|---:|---:|---:|---:|")

    def spread(values, fmt):
        return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"

    base = results[baseline]
    for name, runs in results.items():
        rates = [x["rate"] for x in runs]
        ratios = [x["rate"] / b["rate"] for x, b in zip(runs, base, strict=True)]
        py = [x["py_us"] for x in runs]
        pg = [x["pg_us"] for x in runs if "pg_us" in x]
        print(f"| {name} | {spread(rates, lambda v: f'{v:,.0f}')} "
              f"| {spread(ratios, lambda v: f'{v:.2f}')} "
              f"| {spread(py, lambda v: f'{v:.1f}')} "
              f"| {spread(pg, lambda v: f'{v:.1f}') if pg else 'n/a'} |")
    sys.stdout.flush()


# --- the data ------------------------------------------------------------------------


def make_hits(messages, count: int, kind: str, rng: random.Random, ips: list[str],
              people: float = 0.5):
    """``count`` hits with their verdicts: ``people`` of them from people (50 user
    agents, ``ips``), the rest Gmail's proxy, Apple MPP and a scanner (3:1:1),
    as in ``benchmarks/enrich.py``."""
    from django_leadpixel.classify import classify
    from django_leadpixel.ingest.hits import Hit

    items = []
    for _ in range(count):
        roll = rng.random()
        if roll < people:
            ua, ip = rng.choice(USER_AGENTS), rng.choice(ips)
        elif roll < people + (1 - people) * 0.6:
            ua, ip = GMAIL, "66.249.84.12"
        elif roll < people + (1 - people) * 0.8:
            ua, ip = APPLE, "172.225.8.19"
        else:
            ua, ip = SCANNER, "209.222.82.7"
        extra = {"url": f"https://example.com/offer/{rng.randrange(50)}?utm_source=mail",
                 "position": rng.randrange(5)} if kind == "click" else {}
        hit = Hit(kind=kind, message_id=rng.choice(messages).public_id, ip=ip, user_agent=ua, **extra)
        items.append((hit, classify(ip=ip, user_agent=ua, kind=kind)))
    return items


def enriched_events(items, messages_by_public_id):
    """The rows ``store_many`` inserts: built, then enriched in the same pass."""
    from django_leadpixel.enrichment import enrichment_for
    from django_leadpixel.ingest.events import build_event
    from django_leadpixel.models import fit

    events = []
    for hit, verdict in items:
        event = build_event(hit, messages_by_public_id[hit.message_id], verdict)
        for name, value in fit(type(event), enrichment_for(event)).items():
            setattr(event, name, value)
        events.append(event)
    return events


def truncate(*models) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(m._meta.db_table)
                                               for m in models))


def stored(model) -> list[tuple]:
    fields = [f.attname for f in model._meta.concrete_fields]
    return sorted(model.objects.order_by().values_list(*fields))


# --- a. a batch inserted -----------------------------------------------------------------


def part_a(messages, rng, ips, rounds: int, batch: int, reps: int) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from django_leadpixel import sql
    from django_leadpixel.models import Click, Open

    by_public_id = {m.public_id: m for m in messages}
    backend = Backend(connection)
    for model in (Open, Click):
        kind = model._meta.model_name
        events = enriched_events(make_hits(messages, batch, kind, rng, ips), by_public_id)
        contenders = {
            "sql.insert_many": lambda rows, model=model: sql.insert_many(connection, model, rows),
            "bulk_create(ignore_conflicts)":
                lambda rows, model=model: model.objects.bulk_create(rows, ignore_conflicts=True),
        }
        # The same rows stored either way, and bulk_create's SQL seen once.
        seen = []
        for name, insert in contenders.items():
            truncate(Open, Click)
            with CaptureQueriesContext(connection) as queries, transaction.atomic():
                insert(events)
                insert(events)  # again: every id is a conflict, nothing changes
            seen.append(stored(model))
            inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
            print(f"  {kind}, {name}: {len(inserts)} INSERTs for 2 calls, "
                  f"{inserts[0][:40]} … {inserts[0][-110:]}")
        assert seen[0] == seen[1] and len(seen[0]) == batch, "the contenders stored different rows"

        def prepare(name):
            truncate(Open, Click)

        def run(name, events=events, contenders=contenders):
            insert = contenders[name]
            totals = []
            for _ in range(reps):
                for event in events:
                    event.id = uuid.uuid4()
                    event._state.adding = True

                def once():
                    with transaction.atomic():
                        insert(events)

                totals.append(measure(once, backend, len(events)))
            return {key: statistics.mean(t[key] for t in totals) for key in totals[0]}

        results = alternate(contenders, rounds, prepare, run, f"a/{kind}")
        summary(f"a. {batch} {kind}s per statement, {reps} batches per round, {rounds} rounds",
                "row", results, "bulk_create(ignore_conflicts)")


# --- b. the request path's one INSERT ----------------------------------------------------


def part_b(messages, rng, ips, rounds: int, hits: int, synchronous_commit: str) -> None:
    from django.conf import settings
    from django.db import connections
    from django.test.utils import override_settings

    from django_leadpixel import sql
    from django_leadpixel.ingest import direct
    from django_leadpixel.ingest.events import stored_fields
    from django_leadpixel.models import Click, Message, Open

    # contender: (alias, PREPARE_STATEMENTS)
    contenders = {
        "PREPARE/EXECUTE, client binding (default)": ("default", True),
        "plain text, client binding": ("default", False),
        "server binding, prepare_threshold=5": ("server_prepared", True),
        "server binding, Django default (no prepare)": ("server_plain", True),
    }
    backends = {alias: Backend(connections[alias]) for alias, _ in contenders.values()}
    for alias in backends:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"SET synchronous_commit TO {synchronous_commit}")
    items = make_hits(messages, 500, "open", rng, ips)
    public_id = Message._meta.get_field("public_id")

    def statements(alias):
        conn = connections[alias]
        insert = direct.plan("open", alias)
        out = []
        for _ in range(hits):
            hit, verdict = rng.choice(items)
            hit.id = uuid.uuid4()
            params = sql.params_of(insert.slots, stored_fields(hit, verdict, True), conn)
            params.append(public_id.get_db_prep_value(hit.message_id, conn))
            out.append(params)
        return conn, insert, out

    # Every contender stores the same row.
    rows = []
    for alias, prepared in contenders.values():
        truncate(Open, Click)
        conn, insert, params = statements(alias)
        with override_settings(LEADPIXEL={**settings.LEADPIXEL, "PREPARE_STATEMENTS": prepared}):
            for p in params[:20]:
                with conn.cursor() as cursor:
                    sql.execute(conn, cursor, insert.sql, insert.types, p)
                    assert cursor.fetchone() is not None
        rows.append(len(Open.objects.all()))
    assert rows == [20] * len(contenders), rows

    work = {}

    def prepare(name):
        truncate(Open, Click)
        work[name] = statements(contenders[name][0])

    def run(name):
        alias, prepared = contenders[name]
        conn, insert, params = work.pop(name)

        def loop():
            for p in params:
                with conn.cursor() as cursor:
                    sql.execute(conn, cursor, insert.sql, insert.types, p)
                    cursor.fetchone()

        with override_settings(LEADPIXEL={**settings.LEADPIXEL, "PREPARE_STATEMENTS": prepared}):
            return measure(loop, backends[alias], len(params))

    results = alternate(contenders, rounds, prepare, run, "b")
    summary(f"b. the request path's INSERT ... SELECT, {hits} autocommit statements per round, "
            f"{rounds} rounds, synchronous_commit {synchronous_commit}", "statement", results,
            "plain text, client binding")


# --- c. enrichment of a batch written ------------------------------------------------------


def part_c(messages, rng, ips, rounds: int, batch: int, reps: int, people: float, label: str) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from django_leadpixel import sql
    from django_leadpixel.enrichment import ENRICHED_FIELDS
    from django_leadpixel.jobs.enrich import fields_of, read_fields
    from django_leadpixel.models import Click, Open

    truncate(Open, Click)
    by_public_id = {m.public_id: m for m in messages}
    Open.objects.bulk_create(
        enriched_events(make_hits(messages, batch, "open", rng, ips, people), by_public_id))
    Open.objects.update(enriched_at=None)
    now = timezone.now()
    rows = list(Open.objects.unenriched().order_by("pk").only(*read_fields(Open)))
    values = {row.pk: fields_of(row, now) for row in rows}
    distinct = len(set(tuple(v.items()) for v in values.values()))
    print(f"  c, {label}: {len(rows)} opens, {distinct} distinct sets of values")
    backend = Backend(connection)

    def update_many():
        return sql.update_many(connection, Open, rows, lambda row: values[row.pk],
                               fields=ENRICHED_FIELDS, only_new=True)

    def bulk_update(batch_size=None):
        for row in rows:
            for name, value in values[row.pk].items():
                setattr(row, name, value)
        return Open.objects.unenriched().bulk_update(rows, ENRICHED_FIELDS, batch_size=batch_size)

    def grouped():
        groups = defaultdict(list)
        for row in rows:
            groups[tuple(values[row.pk].items())].append(row.pk)
        base = Open.objects.unenriched()
        return sum(base.filter(pk__in=pks).update(**dict(v)) for v, pks in groups.items())

    contenders = {"sql.update_many": update_many, "bulk_update": bulk_update,
                  "bulk_update(batch_size=100)": lambda: bulk_update(100),
                  "grouped .update()": grouped}

    def reset():
        Open.objects.update(**{name: None if Open._meta.get_field(name).null else
                               Open._meta.get_field(name).get_default() for name in ENRICHED_FIELDS})

    expected = None
    for name, write in contenders.items():
        reset()
        with transaction.atomic():
            assert write() == len(rows), name
        now_stored = stored(Open)
        assert expected is None or now_stored == expected, f"{name} wrote other values"
        expected = now_stored

    def prepare(name):
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {connection.ops.quote_name(Open._meta.db_table)}")

    def run(name):
        totals = []
        for _ in range(reps):
            reset()
            counts: list[int] = []

            def once(counts=counts):
                with transaction.atomic():
                    counts.append(contenders[name]())

            totals.append(measure(once, backend, len(rows)))
            assert counts == [len(rows)], (name, counts)
        return {key: statistics.mean(t[key] for t in totals) for key in totals[0]}

    results = alternate(contenders, rounds, prepare, run, f"c/{label}")
    summary(f"c. enrichment of {len(rows)} opens ({label}: {distinct} distinct sets of values) per "
            f"transaction, {reps} batches per round, {rounds} rounds", "row", results, "grouped .update()")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=1000, help="rows per batch (a, c)")
    parser.add_argument("--reps", type=int, default=5, help="batches per contender and round (a)")
    parser.add_argument("--hits", type=int, default=2000, help="statements per contender and round (b)")
    parser.add_argument("--c-rounds", type=int, default=5,
                        help="rounds of c (bulk_update takes seconds per batch)")
    parser.add_argument("--c-reps", type=int, default=2, help="batches per contender and round (c)")
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument("--synchronous-commit", default="off", choices=["on", "off"],
                        help="(b) off: one process waiting for each statement's own WAL flush "
                        "measures the disk, not the statement")
    args = parser.parse_args()
    ensure_database(os.environ["PGDATABASE"])

    import django

    add_server_binding_aliases()
    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    from django_leadpixel.models import Click, Message, Open

    call_command("migrate", verbosity=0)
    truncate(Open, Click)
    Message.objects.filter(campaign="sql-bench").delete()
    rng = random.Random(11)
    messages = Message.objects.bulk_create(
        Message(recipient=f"reader{i}@example.com", campaign="sql-bench", subject="Offer")
        for i in range(200))
    ips = make_ips(400, rng)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    print(f"Django {django.get_version()}, psycopg {psycopg.__version__}, PostgreSQL {server}, "
          f"{os.cpu_count()} CPUs; PostgreSQL CPU from /proc: {Backend(connection).readable}")
    parts = set(args.parts.split(","))
    if "a" in parts:
        part_a(messages, rng, ips, args.rounds, args.batch, args.reps)
    if "b" in parts:
        part_b(messages, rng, ips, args.rounds, args.hits, args.synchronous_commit)
    if "c" in parts:
        for people, label in ((0.5, "mix"), (1.0, "people only")):
            part_c(messages, rng, ips, args.c_rounds, args.batch, args.c_reps, people, label)
    truncate(Open, Click)
    Message.objects.filter(campaign="sql-bench").delete()


if __name__ == "__main__":
    main()
