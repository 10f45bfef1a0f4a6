"""Faults (issue 7): a slow database, a storm of opens of one message, a worker
killed mid-batch, and a GeoIP database that is missing or breaks mid-run.

Already covered elsewhere and not repeated here: the database refused or down
(tests/test_spool.py), the broker down and a duplicated task delivery
(tests/test_integration.py), a missing or corrupt GeoIP database at startup
(tests/jobs/test_jobs.py).

The PostgreSQL-only tests skip with the reason on SQLite and fail instead in
CI's PostgreSQL stage (CI=true, LEADPIXEL_TEST_DB=postgres), as
tests/test_integration.py does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_leadpixel import enrichment, jobs, tokens
from django_leadpixel.models import Click, Message, Open

from .conftest import CHROME, GMAIL_PROXY, IN_CI, ON_POSTGRES, ROOT, make_message

GEOIP = Path(__file__).parent / "fixtures" / "geoip"


def require_postgres(why: str) -> None:
    if connection.vendor == "postgresql":
        return
    reason = f"{why} needs PostgreSQL (set LEADPIXEL_TEST_DB=postgres)"
    if IN_CI and ON_POSTGRES:
        pytest.fail(reason + " — required in CI's PostgreSQL stage")
    pytest.skip(reason)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, agent: str = CHROME, forwarded_for: str | None = None,
          timeout: float = 10) -> tuple[int, dict, bytes, float]:
    headers = {"User-Agent": agent}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    opener = urllib.request.build_opener(NoRedirect)
    started = time.monotonic()
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:  # the 302 lands here without a redirect handler
        return exc.code, dict(exc.headers), exc.read(), time.monotonic() - started


def server_db_env() -> dict[str, str]:
    """The example project pointed at this test run's PostgreSQL database."""
    db = connection.settings_dict
    return {"LEADPIXEL_DB": "postgres", "PGDATABASE": db["NAME"],
            "PGHOST": db["HOST"] or "127.0.0.1", "PGPORT": str(db["PORT"] or 5432),
            "PGUSER": db["USER"], "PGPASSWORD": db["PASSWORD"] or ""}


def spooled(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- slow database --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_slow_database_statement_timeout_spools_and_replays_once(example_server, tmp_path):
    """Every query of the server runs into PostgreSQL's statement_timeout (set through
    libpq's PGOPTIONS, as a production DSN would): the tables it needs are held by
    another session, so its queries wait and are cancelled for real."""
    require_postgres("a statement_timeout fault")
    import psycopg

    message = make_message()
    spool = tmp_path / "spool.jsonl"
    server = example_server(LEADPIXEL_SPOOL_FILE=str(spool), LEADPIXEL_IP_PROXY_COUNT="1",
                            PGOPTIONS="-c statement_timeout=300", **server_db_env())
    destination = "https://shop.example.com/slow?x=1"
    pixel_url = server.url + "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    click_url = server.url + "/t/c/" + tokens.make_click_token(message.public_id, destination, 2)
    assert fetch(pixel_url)[0] == 200  # the server has connected and works

    db = connection.settings_dict
    blocker = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                              user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"])
    try:
        blocker.execute("LOCK TABLE django_leadpixel_message, django_leadpixel_open, "
                        "django_leadpixel_click IN ACCESS EXCLUSIVE MODE")
        status, headers, body, open_time = fetch(pixel_url, GMAIL_PROXY)
        assert (status, headers["Content-Type"]) == (200, "image/gif") and len(body) == 43
        status, headers, _, click_time = fetch(click_url, CHROME, "198.51.100.8")
        assert (status, headers["Location"]) == (302, destination)
    finally:
        blocker.rollback()
        blocker.close()
    # Prompt: one statement timeout (0.3 s) each, not connect_timeout or a hang.
    assert open_time < 3 and click_time < 3, (open_time, click_time)
    assert "canceling statement due to statement timeout" in server.log.read_text()

    lines = spooled(spool)
    assert [(x["kind"], x["message"]) for x in lines] == [
        ("open", str(message.public_id)), ("click", str(message.public_id))]
    assert Open.objects.count() == 1 and Click.objects.count() == 0  # only the first open
    call_command("leadpixel_replay", str(spool))
    call_command("leadpixel_replay", str(spool))  # twice: still one row per event
    assert Open.objects.count() == 2 and Click.objects.count() == 1
    replayed = Open.objects.get(pk=lines[0]["id"])
    assert replayed.source == "google_proxy"
    click = Click.objects.get(pk=lines[1]["id"])
    assert (click.url, click.position, click.ip) == (destination, 2, "198.51.100.8")


# --- the request path's budget: a locked table, a database that never answers ---------------

BUDGET = 0.5  # LEADPIXEL["REQUEST_DB_TIMEOUT"] in these tests (default 1.5 s)
HANG = 10.0  # past this, a request is hung: a hang detector, not a speed test


def blocker_connection():
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                           user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"])


@pytest.fixture
def own_spool(monkeypatch, tmp_path):
    """A spool file of this test's own (the spool logger takes SPOOL_FILE once per logger)."""
    import logging
    import uuid

    from django_leadpixel.ingest import spool as spool_module

    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger(f"lp.test.{uuid.uuid4().hex}"))
    return tmp_path / "spool.jsonl"


def show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
def test_a_locked_events_table_costs_a_hit_its_budget_and_replay_stores_it_once(client, own_spool,
                                                                               caplog):
    """Another session holds ACCESS EXCLUSIVE on the open and click tables: the pixel and the
    click give up after the budget, answer, and spool; replay stores each once afterwards."""
    require_postgres("a lock held on the events tables")
    message = make_message()
    # REPEAT_WINDOW 0: the first pixel and the last one are the same reader's, on purpose.
    lp = {"BASE_URL": "https://mail.example.com", "SPOOL_FILE": str(own_spool),
          "REQUEST_DB_TIMEOUT": BUDGET, "ENRICH_ON_RECORD": False, "REPEAT_WINDOW": 0}
    pixel_url = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    destination = "https://shop.example.com/locked"
    click_url = "/t/c/" + tokens.make_click_token(message.public_id, destination, 1)
    blocker = blocker_connection()
    # A build without a budget waits on the lock: set it free after HANG, and fail below.
    watchdog = threading.Timer(HANG, blocker.rollback)
    with override_settings(LEADPIXEL=lp):
        assert client.get(pixel_url, HTTP_USER_AGENT=CHROME).status_code == 200  # prepared now
        try:
            blocker.execute("LOCK TABLE django_leadpixel_open, django_leadpixel_click "
                            "IN ACCESS EXCLUSIVE MODE")
            watchdog.start()
            answers = []
            for url, agent in [(pixel_url, GMAIL_PROXY), (click_url, CHROME), (pixel_url, CHROME)]:
                started = time.monotonic()
                response = client.get(url, HTTP_USER_AGENT=agent)
                answers.append((response.status_code, time.monotonic() - started))
        finally:
            watchdog.cancel()
            blocker.rollback()
            blocker.close()
        # The budget is the request path's alone: the connection's own settings are untouched.
        assert (show("statement_timeout"), show("lock_timeout")) == ("0", "0")
    assert [status for status, _ in answers] == [200, 302, 200]
    assert max(elapsed for _, elapsed in answers) < BUDGET + 2.5, answers
    # The click's statement was first prepared under the lock: a timeout is not the server
    # refusing PREPARE (which would stop preparing on this connection and send it again).
    assert "could not prepare" not in caplog.text
    lines = spooled(own_spool)
    assert [x["kind"] for x in lines] == ["open", "click", "open"]
    assert Open.objects.count() == 1 and Click.objects.count() == 0  # the one before the lock
    with override_settings(LEADPIXEL=lp):
        call_command("leadpixel_replay", str(own_spool))
        call_command("leadpixel_replay", str(own_spool))  # twice: still one row per event
    assert Open.objects.count() == 3 and Click.objects.count() == 1
    assert Open.objects.get(pk=lines[0]["id"]).source == "google_proxy"
    assert Click.objects.get(pk=lines[1]["id"]).url == destination


@pytest.mark.django_db(transaction=True)
def test_inside_the_projects_transaction_the_budget_ends_with_the_statement(own_spool):
    """ATOMIC_REQUESTS: a SET LOCAL would outlive the savepoint; the project's own
    settings come back whether the statement is stored or times out."""
    require_postgres("statement_timeout and lock_timeout")
    from django.db import transaction

    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.ingest.record import record

    message = make_message()
    lp = {"BASE_URL": "https://mail.example.com", "SPOOL_FILE": str(own_spool),
          "REQUEST_DB_TIMEOUT": BUDGET, "ENRICH_ON_RECORD": False}
    hit = Hit(kind="open", message_id=message.public_id, user_agent=CHROME)
    with override_settings(LEADPIXEL=lp):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '7s'")
            assert record(hit)
            assert (show("statement_timeout"), show("lock_timeout")) == ("7s", "0")
        blocker = blocker_connection()
        watchdog = threading.Timer(HANG, blocker.rollback)  # a build without a budget waits
        try:
            blocker.execute("LOCK TABLE django_leadpixel_open IN ACCESS EXCLUSIVE MODE")
            watchdog.start()
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = '7s'")
                started = time.monotonic()
                stored = record(Hit(kind="open", message_id=message.public_id, user_agent=CHROME))
                elapsed = time.monotonic() - started
                assert (show("statement_timeout"), show("lock_timeout")) == ("7s", "0")
                assert Message.objects.filter(pk=message.pk).exists()  # the transaction works
        finally:
            watchdog.cancel()
            blocker.rollback()
            blocker.close()
    assert not stored and elapsed < BUDGET + 2.5, (stored, elapsed)
    assert len(spooled(own_spool)) == 1 and Open.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("timeout, sent", [(None, ""), (1.5, "SET LOCAL statement_timeout = 1500; "
                                                              "SET LOCAL lock_timeout = 1500; ")])
def test_the_budget_travels_with_the_statement(client, timeout, sent):
    require_postgres("statement_timeout and lock_timeout")
    from django.test.utils import CaptureQueriesContext

    message = make_message()
    lp = {"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": False,
          "REQUEST_DB_TIMEOUT": timeout}
    with override_settings(LEADPIXEL=lp), CaptureQueriesContext(connection) as captured:
        client.get("/t/o/" + tokens.make_open_token(message.public_id) + ".gif")
    statements = [q["sql"] for q in captured.captured_queries]
    assert statements and all(q.startswith(sent) and "SET" not in q[len(sent):] for q in statements)


class Unanswering:
    """A TCP server that accepts connections and never says a word (a hung database)."""

    def __init__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # kept open, never read from or written to

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_database_that_never_answers_costs_a_hit_its_connect_timeout(example_server, tmp_path):
    """The example project (OPTIONS connect_timeout = 3, as the README asks) pointed at a
    server that accepts and never answers: each hit answers, and is spooled, not lost."""
    require_postgres("the PostgreSQL driver against a hung server")
    message = make_message()
    spool = tmp_path / "spool.jsonl"
    fake = Unanswering()
    try:
        server = example_server(LEADPIXEL_SPOOL_FILE=str(spool), LEADPIXEL_DB="postgres",
                                PGHOST="127.0.0.1", PGPORT=str(fake.port), PGDATABASE="hung",
                                PGUSER="postgres", PGPASSWORD="")
        destination = "https://shop.example.com/hung"
        pixel_url = server.url + "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
        click_url = server.url + "/t/c/" + tokens.make_click_token(message.public_id, destination, 1)
        status, headers, body, open_time = fetch(pixel_url, GMAIL_PROXY, timeout=60)
        assert (status, headers["Content-Type"], len(body)) == (200, "image/gif", 43)
        status, headers, _, click_time = fetch(click_url, CHROME, timeout=60)
        assert (status, headers["Location"]) == (302, destination)
        assert fake.held, "the server never connected to the hung database"
    finally:
        fake.close()
    assert open_time < HANG and click_time < HANG, (open_time, click_time)
    assert [(x["kind"], x["message"]) for x in spooled(spool)] == [
        ("open", str(message.public_id)), ("click", str(message.public_id))]


# --- a storm of opens of one message ----------------------------------------------------------

STORM = 200


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_opens_of_one_message_are_each_stored_once(live_server, tmp_path):
    require_postgres("200 concurrent opens (a live server with one connection per thread)")
    spool = tmp_path / "spool.jsonl"
    message = make_message()
    url = live_server.url + "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    # Each reader has its own address, so each stored row can be traced to its request.
    readers = [(f"198.51.{100 + i // 250}.{i % 250 + 1}", GMAIL_PROXY if i % 4 == 0 else CHROME)
               for i in range(STORM)]
    start = threading.Barrier(STORM, timeout=60)
    results: list = [None] * STORM

    def reader(i: int) -> None:
        ip, agent = readers[i]
        try:
            start.wait()
            results[i] = fetch(url, agent, ip, timeout=60)[0]
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = repr(exc)

    lp = {"BASE_URL": "https://mail.example.com", "SPOOL_FILE": str(spool),
          "ENRICH_ON_RECORD": False, "IP_TRUSTED_PROXIES": ["127.0.0.1"]}  # fetch() forwards
    with override_settings(LEADPIXEL=lp):
        threads = [threading.Thread(target=reader, args=(i,)) for i in range(STORM)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert results == [200] * STORM, [r for r in results if r != 200][:5]

    lines = spooled(spool)
    if lines:  # e.g. the server ran out of database connections: nothing is lost, replay
        call_command("leadpixel_replay", str(spool))
    stored = sorted(Open.objects.filter(message=message).values_list("ip", flat=True))
    assert stored == sorted(ip for ip, _ in readers), f"{len(stored)} stored, {len(lines)} spooled"
    stats = Message.objects.with_stats().get(pk=message.pk)
    first = Open.objects.filter(message=message).order_by("occurred_at").first().occurred_at
    assert (stats.opens_total, stats.human_opens, stats.google_proxy_opens,
            stats.machine_opens, stats.clicks_total) == (STORM, STORM, STORM // 4, 0, 0)
    assert stats.first_open == stats.first_human_open == first
    # No spool line was needed at this concurrency (tell if that ever changes).
    assert not lines, f"{len(lines)} of {STORM} opens were spooled and replayed"


# --- worker killed mid-batch ----------------------------------------------------------------

ROWS = 1000


def sweep_child(tmp_path: Path) -> subprocess.Popen:
    """``manage.py leadpixel_enrich`` of the example project, on this run's database."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_SECRET_KEY": "not-used-here",
        "LEADPIXEL_GEOIP_PATH": str(GEOIP / "Test-City.mmdb"),
        **server_db_env(),
    }
    log = (tmp_path / "sweep.log").open("a")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "example_project" / "manage.py"), "leadpixel_enrich",
         "--batch-size", "10", "--no-progress"],
        env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_redoes_the_batch_without_duplicates(tmp_path):
    require_postgres("killing a sweeping worker (SELECT ... FOR UPDATE SKIP LOCKED)")
    message = make_message()
    now = timezone.now()
    Open.objects.bulk_create(
        Open(message=message, source="human", ip=f"81.2.{i // 250}.{i % 250 + 1}",
             user_agent=CHROME, occurred_at=now)
        for i in range(ROWS))
    ids = set(Open.objects.values_list("pk", flat=True))

    child = sweep_child(tmp_path)
    deadline = time.monotonic() + 60
    done = 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            done = Open.objects.exclude(enriched_at=None).count()
            if done >= ROWS // 20:
                break
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL, (
        f"the sweep ended by itself (exit {child.returncode}) before it could be killed; "
        f"{(tmp_path / 'sweep.log').read_text()}")
    before = dict(Open.objects.exclude(enriched_at=None).values_list("pk", "enriched_at"))
    assert 0 < len(before) < ROWS, len(before)
    assert len(before) % 10 == 0  # whole batches only: the killed one was rolled back

    # A worker starts again and sweeps; the killed batch's locks go with its connection.
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                                      "GEOIP_PATH": str(GEOIP / "Test-City.mmdb")}):
        enrichment.reset_locator()
        try:
            redone = 0
            deadline = time.monotonic() + 30
            while Open.objects.filter(enriched_at=None).exists() and time.monotonic() < deadline:
                redone += jobs.sweep(batch_size=500)
            assert jobs.sweep() == 0
        finally:
            enrichment.reset_locator()
    assert redone == ROWS - len(before)
    assert set(Open.objects.values_list("pk", flat=True)) == ids  # no row added or lost
    after = dict(Open.objects.values_list("pk", "enriched_at"))
    assert all(after[pk] == at for pk, at in before.items())  # enriched once, not redone
    assert not Open.objects.filter(enriched_at=None).exists()
    assert set(Open.objects.values_list("geo_status", flat=True)) <= {"ok", "not_found"}


# --- GeoIP database missing at startup, then appearing, then breaking ---------------------------


@pytest.fixture
def geo_dir(tmp_path, monkeypatch):
    """A GEOIP_PATH directory whose City file the test swaps, and a clock to move."""
    folder = tmp_path / "geoip"
    folder.mkdir()
    clock = {"offset": 0.0}
    real = time.monotonic
    monkeypatch.setattr(enrichment.geo.time, "monotonic", lambda: real() + clock["offset"])

    def later():  # past the recheck interval, as a long-running worker would be
        clock["offset"] += enrichment.RECHECK_SECONDS + 1

    def install(source: str | None):
        target = folder / "City.mmdb"
        if source is None:
            target.unlink(missing_ok=True)
            return
        staged = folder / ".staged"
        shutil.copyfile(GEOIP / source, staged)
        os.replace(staged, target)  # atomically, as geoipupdate does

    # REPEAT_WINDOW 0: the test opens one message from one address again and again.
    lp = {"BASE_URL": "https://mail.example.com", "GEOIP_PATH": str(folder),
          "GEOIP_CITY": "City.mmdb", "GEOIP_ASN": "none.mmdb", "REPEAT_WINDOW": 0}
    with override_settings(LEADPIXEL=lp):
        enrichment.reset_locator()
        yield install, later
    enrichment.reset_locator()


def open_from(client, message, ip="81.2.69.142") -> Open:
    before = set(Open.objects.values_list("pk", flat=True))
    response = client.get("/t/o/" + tokens.make_open_token(message.public_id) + ".gif",
                          HTTP_USER_AGENT=CHROME, REMOTE_ADDR=ip)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    (new,) = Open.objects.exclude(pk__in=before)
    # The test's transaction never commits, so the after-commit enrichment does not run:
    # enrich it as the task would.
    assert jobs.enrich_one("open", str(new.pk))
    new.refresh_from_db()
    return new


@pytest.mark.django_db
def test_geoip_missing_at_start_then_installed_then_corrupt_mid_run(client, message, geo_dir):
    install, later = geo_dir
    first = open_from(client, message)
    assert first.enriched_at and first.geo_status == "no_database" and first.country == ""
    assert first.device_type == "desktop"  # the device is still read

    install("Test-City.mmdb")  # appears while running: picked up at the next recheck
    assert open_from(client, message).geo_status == "no_database"
    later()
    located = open_from(client, message)
    assert (located.geo_status, located.city, located.country) == ("ok", "London", "GB")

    install("Corrupt-City.mmdb")  # replaced by something that is not a MaxMind DB
    later()
    broken = open_from(client, message, "81.2.69.160")
    assert (broken.geo_status, broken.country) == ("corrupt", "")
    assert enrichment.geoip_problem()  # the system check would say so

    install("Broken-Data-City.mmdb")  # opens, but its records are broken
    later()
    bad_data = open_from(client, message, "81.2.69.161")
    assert bad_data.geo_status in ("corrupt", "not_found") and bad_data.country == ""

    install(None)  # deleted mid-run
    later()
    assert open_from(client, message, "81.2.69.162").geo_status == "no_database"

    install("Test-City.mmdb")  # and back
    later()
    assert open_from(client, message, "81.2.69.163").geo_status == "ok"
    assert Open.objects.count() == 7  # every open stored whatever the database did


@pytest.mark.django_db
def test_sweep_with_a_database_broken_mid_run_leaves_rows_for_later(message, geo_dir):
    """Rows enriched while the database was broken say so (geo_status), and
    ``leadpixel_enrich --all`` fills the places once it is fixed."""
    install, later = geo_dir
    install("Corrupt-City.mmdb")
    rows = Open.objects.bulk_create(
        Open(message=message, source="human", ip="81.2.69.142", user_agent=CHROME)
        for _ in range(5))
    assert jobs.sweep() == 5
    assert set(Open.objects.values_list("geo_status", flat=True)) == {"corrupt"}
    install("Test-City.mmdb")
    later()
    call_command("leadpixel_enrich", "--all", "--no-progress")
    assert set(Open.objects.values_list("geo_status", "city")) == {("ok", "London")}
    assert Open.objects.count() == len(rows)


GEO_CHILD = r"""
import os, sys, time
from django_leadpixel.enrichment import GeoLocator
locator = GeoLocator(sys.argv[1])
print(locator.locate("81.2.69.142")[1], flush=True)
sys.stdin.readline()  # the parent truncates the file in place now
results = set()
for i in range(2000):
    results.add(locator.locate(f"81.2.{i % 250}.{i // 250 + 1}")[1])
print(sorted(results), flush=True)
"""


def test_geoip_file_truncated_in_place_under_a_running_reader(tmp_path):
    """``cp new.mmdb City.mmdb`` over the live file (not an atomic rename) under a
    worker that has it memory-mapped: lookups must not kill the process."""
    city = tmp_path / "City.mmdb"
    shutil.copyfile(GEOIP / "Test-City.mmdb", city)
    child = subprocess.Popen([sys.executable, "-c", GEO_CHILD, str(city)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        with city.open("r+b") as handle:
            handle.truncate(64)
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, f"reader died with {child.returncode}: {err[-2000:]}"
    assert out.strip()
