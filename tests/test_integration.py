"""PostgreSQL + a real Redis broker + a real Celery worker process.

Run with LEADPIXEL_TEST_DB=postgres and Redis on 127.0.0.1:6379. Skipped with
the reason when those are absent, and required when CI=true.
"""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from django_leadpixel import tasks, tokens
from django_leadpixel.models import Open

from . import celery_app
from .conftest import (
    CHROME,
    GMAIL_PROXY,
    IN_CI,
    ON_POSTGRES,
    ROOT,
    free_port,
    make_message,
    redis_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REDIS_DB = 11
GEOIP_CITY = Path(__file__).parent / "fixtures" / "geoip" / "Test-City.mmdb"


@pytest.fixture
def services():
    missing = []
    if connection.vendor != "postgresql":
        missing.append("PostgreSQL (set LEADPIXEL_TEST_DB=postgres)")
    if not redis_up():
        missing.append("Redis on 127.0.0.1:6379")
    if missing:
        reason = "integration test needs " + " and ".join(missing)
        # CI runs the suite twice: on SQLite (these skip) and on PostgreSQL,
        # where they are required.
        if IN_CI and ON_POSTGRES:
            pytest.fail(reason + " — required in CI's PostgreSQL stage")
        pytest.skip(reason)
    import redis

    redis.Redis(db=REDIS_DB).flushdb()


def use_app(broker: str) -> Celery:
    """A Celery app for this process, made the default so shared tasks (and the
    publisher thread, which has no thread-local app) use it."""
    app = Celery("leadpixel_it", broker=broker, backend=f"redis://127.0.0.1:6379/{REDIS_DB}")
    app.conf.update(task_always_eager=False, broker_connection_timeout=2,
                    broker_connection_retry_on_startup=False)
    app.set_default()
    app.set_current()
    return app


@pytest.fixture
def worker(services, tmp_path):
    log = tmp_path / "worker.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "LEADPIXEL_DB": "postgres",
        "PGDATABASE": connection.settings_dict["NAME"],
        "PGHOST": connection.settings_dict["HOST"] or "127.0.0.1",
        "PGPORT": str(connection.settings_dict["PORT"] or 5432),
        "PGUSER": connection.settings_dict["USER"],
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "LEADPIXEL_GEOIP_PATH": str(GEOIP_CITY),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "example_project", "worker", "--loglevel=INFO",
         "--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT / "example_project", stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("Celery worker did not start:\n" + log.read_text())
        time.sleep(0.2)
    yield log
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    celery_app.app.set_default()
    celery_app.app.set_current()


@pytest.fixture(autouse=True)
def through_a_local_proxy(settings):
    # hit() sends X-Forwarded-For from 127.0.0.1, as nginx on this host would: believed only
    # from a configured proxy.
    settings.LEADPIXEL = {**settings.LEADPIXEL, "IP_TRUSTED_PROXIES": ["127.0.0.1"]}


def hit(url: str, agent: str, forwarded_for: str) -> float:
    request = urllib.request.Request(url, headers={"User-Agent": agent,
                                                   "X-Forwarded-For": forwarded_for})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "image/gif"
    return time.monotonic() - started


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def snapshot():
    return sorted(Open.objects.values_list("id", "enriched_at", "city", "masked", "device_type"))


def test_worker_enriches_real_requests_and_a_second_sweep_changes_nothing(worker, live_server):
    use_app(f"redis://127.0.0.1:6379/{REDIS_DB}")
    message = make_message()
    url = live_server.url + "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    hit(url, CHROME, "81.2.69.142")
    hit(url, GMAIL_PROXY, "66.249.84.12")
    hit(url, CHROME, "2001:67c:2e8:22::c100:68b")

    assert wait_until(lambda: not Open.objects.filter(enriched_at=None).exists()), \
        worker.read_text()
    rows = {o.ip: o for o in Open.objects.all()}
    assert (rows["81.2.69.142"].city, rows["81.2.69.142"].os) == ("London", "Windows")
    assert rows["2001:67c:2e8:22::c100:68b"].country == "NL"
    gmail = rows["66.249.84.12"]
    assert gmail.source == "google_proxy" and gmail.masked and gmail.city == ""

    before = snapshot()
    assert tasks.sweep.delay().get(timeout=30) == 0
    assert snapshot() == before
    # A duplicated delivery of an enrichment task changes nothing either.
    assert tasks.enrich_event.apply_async(("open", str(gmail.pk))).id
    time.sleep(1)
    assert snapshot() == before


def test_broker_down_pixel_stays_prompt_and_the_sweep_catches_up(worker, live_server):
    use_app(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    message = make_message()
    url = live_server.url + "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    # Three readers in London (one reader's identical hits would count as repeats).
    elapsed = [hit(url, CHROME, f"81.2.69.{n}") for n in (142, 143, 144)]
    # Liveness, not speed: a request that waited on the broker would take the
    # connection timeout (2 s) or hang; these return at once.
    assert max(elapsed) < 2, elapsed
    assert Open.objects.count() == 3
    time.sleep(1)
    assert Open.objects.filter(enriched_at=None).count() == 3

    use_app(f"redis://127.0.0.1:6379/{REDIS_DB}")  # the broker is back
    assert tasks.sweep.delay().get(timeout=30) == 3
    assert set(Open.objects.values_list("city", flat=True)) == {"London"}
