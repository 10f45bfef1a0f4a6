"""Buffered ingestion through a real Redis (skipped with the reason when Redis is absent)."""

import uuid

import pytest
from django.test import override_settings

from django_leadpixel import tokens
from django_leadpixel.checks import check_settings
from django_leadpixel.ingest import buffer
from django_leadpixel.ingest.bulk import store_many
from django_leadpixel.ingest.hits import from_line
from django_leadpixel.models import Click, Open
from django_leadpixel.signals import open_recorded
from django_leadpixel.views import PIXEL_GIF

from ..conftest import CHROME, GMAIL_PROXY, IN_CI, ON_POSTGRES, free_port, make_message, redis_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffered():
    if not redis_up():
        if IN_CI:
            pytest.fail("Redis on 127.0.0.1:6379 is required in CI")
        pytest.skip("needs Redis on 127.0.0.1:6379")
    key = f"leadpixel:test:{uuid.uuid4().hex}"
    # REPEAT_WINDOW 0: these tests send one reader's identical hits again and again on
    # purpose (repeats are tested on their own below).
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "INGEST": "redis",
                                      "INGEST_KEY": key, "INGEST_REDIS_URL": "redis://127.0.0.1:6379/12",
                                      "REPEAT_WINDOW": 0}):
        yield buffer.client(), key
        buffer.client().delete(key)


def pixel(client, message, agent=CHROME, ip="198.51.100.3"):
    path = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    return client.get(path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)


def click(client, message, position):
    token = tokens.make_click_token(message.public_id, f"https://example.com/{position}", position)
    return client.get(f"/t/c/{token}", HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.3")


def test_hits_wait_in_redis_then_drain_stores_and_enriches_them_once(client, buffered):
    redis, key = buffered
    message = make_message()
    received = []
    open_recorded.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="buf")
    try:
        assert pixel(client, message).content == PIXEL_GIF
        assert pixel(client, message, GMAIL_PROXY, "66.249.84.12").status_code == 200
        assert click(client, message, 1)["Location"] == "https://example.com/1"
        assert (Open.objects.count(), Click.objects.count(), redis.llen(key)) == (0, 0, 3)
        counts = buffer.drain()
    finally:
        open_recorded.disconnect(dispatch_uid="buf")
    assert counts["stored"] == 3 and redis.llen(key) == 0
    assert sorted(Open.objects.values_list("source", flat=True)) == ["google_proxy", "human"]
    assert not Open.objects.filter(enriched_at=None).exists()
    assert Open.objects.get(source="google_proxy").masked
    assert Click.objects.get().source == "human"
    assert len(received) == 2 and received[0]["request"] is None
    assert buffer.drain() == {}


def test_a_burst_is_judged_when_draining(client, buffered):
    message = make_message()
    for position in (1, 2, 3):
        click(client, message, position)
    buffer.drain()
    assert set(Click.objects.values_list("source", flat=True)) == {"scanner"}


def test_a_drainer_that_died_after_storing_is_redone_without_duplicates(client, buffered):
    redis, key = buffered
    message = make_message()
    for _ in range(5):
        pixel(client, message)
    # The worker stored the batch and died before trimming the list.
    store_many([from_line(line) for line in redis.lrange(key, 0, -1)])
    counts = buffer.drain()
    assert (counts["stored"], counts["duplicate"], Open.objects.count()) == (0, 5, 5)
    assert redis.llen(key) == 0


def test_bad_lines_are_dropped_and_the_rest_stored(client, buffered):
    redis, key = buffered
    message = make_message()
    pixel(client, message)
    redis.rpush(key, b"not json", b'{"kind": "open"}')
    pixel(client, message)
    counts = buffer.drain()
    assert (counts["stored"], counts["bad"], Open.objects.count()) == (2, 2, 2)


def test_no_consent_is_applied_when_draining(client, buffered):
    message = make_message(tracking_consent=False)
    pixel(client, message)
    buffer.drain()
    event = Open.objects.get()
    assert event.anonymous and event.ip is None and event.user_agent == ""


def test_redis_down_falls_back_to_the_direct_write(client):
    message = make_message()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "INGEST": "redis",
                                      "INGEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}):
        assert pixel(client, message).content == PIXEL_GIF
    assert Open.objects.get().source == "human"


def test_ingest_settings_are_checked():
    with override_settings(LEADPIXEL={"BASE_URL": "https://m.example", "INGEST": "kafka"}):
        assert [e.id for e in check_settings()] == ["leadpixel.E008"]


def test_one_drainer_at_a_time_and_a_dead_ones_lease_is_short(client, buffered):
    redis, key = buffered
    message = make_message()
    pixel(client, message)
    held = redis.lock(f"{key}:lock", timeout=buffer.LOCK_SECONDS)
    assert held.acquire(blocking=False)
    assert buffer.drain() == {} and redis.llen(key) == 1
    assert 0 < redis.pttl(f"{key}:lock") <= buffer.LOCK_SECONDS * 1000
    held.release()
    assert buffer.drain()["stored"] == 1


def test_storing_a_batch_costs_the_same_queries_for_one_message_or_many(
        django_assert_max_num_queries):
    from django_leadpixel.classify import Verdict
    from django_leadpixel.ingest.hits import Hit

    messages = [make_message(recipient=f"m{i}@example.com") for i in range(30)]
    hits = [(Hit(kind="open" if i % 2 else "click", message_id=m.public_id, ip=f"198.51.100.{i}",
                 user_agent=CHROME, url="https://example.com/a", position=i % 3),
             Verdict("human", "test")) for i, m in enumerate(messages * 2)]
    # Messages, existing ids (2), repeats (2), stored clicks nearby, the inserts, the
    # rollup marks: a fixed number, not one per message.
    with django_assert_max_num_queries(14):
        assert store_many(hits)["stored"] == 60


def test_a_redis_that_never_answers_costs_one_timeout_and_loses_nothing(client):
    """A listener that accepts and never replies (a hung Redis): the request
    gives up after INGEST_TIMEOUT and writes directly."""
    import socket
    import time

    message = make_message()
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "INGEST": "redis",
                                          "INGEST_REDIS_URL": url, "INGEST_TIMEOUT": 0.2}):
            started = time.monotonic()
            assert pixel(client, message).content == PIXEL_GIF
            waited = time.monotonic() - started
    assert Open.objects.count() == 1
    assert waited < 10  # a hang detector, not a speed test: without the timeout it never returns


def test_a_dropped_connection_falls_back_once_then_buffers_again(client, buffered):
    redis, key = buffered
    message = make_message()
    assert pixel(client, message).status_code == 200
    assert redis.llen(key) == 1
    pusher = buffer.push_connection()  # this thread's push connection: Redis drops it
    pusher.send_command("CLIENT", "ID")
    redis.execute_command("CLIENT", "KILL", "ID", pusher.read_response())
    for _ in range(3):
        assert pixel(client, message).status_code == 200
    buffered_now, direct = redis.llen(key), Open.objects.count()
    assert (buffered_now, direct) == (3, 1)  # the hit that found the connection gone, directly
    assert buffer.drain()["stored"] == buffered_now
    assert Open.objects.count() == 4


def test_bursts_of_many_messages_in_one_batch_convict_their_earlier_clicks(
        django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from django_leadpixel.classify import Verdict
    from django_leadpixel.ingest.hits import Hit

    now = timezone.now()
    messages = [make_message(recipient=f"b{i}@example.com") for i in range(40)]
    earlier, far = {}, {}
    for m in messages:  # stored a moment before, as people
        earlier[m.pk] = Click.objects.create(message=m, occurred_at=now - timedelta(milliseconds=500),
                                             source="human", url="https://example.com/0", position=9)
        far[m.pk] = Click.objects.create(message=m, occurred_at=now - timedelta(seconds=30),
                                         source="human", url="https://example.com/0", position=9)
    hits = [(Hit(kind="click", message_id=m.public_id, ip="198.51.100.9", user_agent=CHROME,
                 url=f"https://example.com/{p}", position=p, occurred_at=now),
             Verdict("human", "from the request")) for m in messages for p in (1, 2, 3)]
    # Not one UPDATE per burst (the 13th query looks for repeats of the batch's hits).
    with django_assert_max_num_queries(13):
        assert store_many(hits)["stored"] == 120
    assert Click.objects.filter(occurred_at=now).exclude(source="scanner").count() == 0
    assert set(Click.objects.filter(pk__in=[c.pk for c in earlier.values()])
               .values_list("source", flat=True)) == {"scanner"}
    assert set(Click.objects.filter(pk__in=[c.pk for c in far.values()])
               .values_list("source", flat=True)) == {"human"}


def test_a_classifier_crash_in_buffered_mode_still_answers_and_keeps_the_hit(
        client, buffered, monkeypatch, tmp_path):
    import json
    import logging

    from django_leadpixel.ingest import record as recording
    from django_leadpixel.ingest import spool as spool_module

    def crash(**kwargs):
        raise RuntimeError("a classifier bug")

    redis, key = buffered
    spool = tmp_path / "spool.jsonl"
    monkeypatch.setattr(recording, "classify", crash)
    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger("lp.test.buffer.spool"))
    message = make_message()
    settings_ = {"BASE_URL": "https://mail.example.com", "INGEST": "redis", "INGEST_KEY": key,
                 "INGEST_REDIS_URL": "redis://127.0.0.1:6379/12", "SPOOL_FILE": str(spool)}
    with override_settings(LEADPIXEL=settings_):
        assert pixel(client, message).content == PIXEL_GIF
    [line] = [json.loads(x) for x in spool.read_text().splitlines()]
    assert line["source"] == "unknown" and line["message"] == str(message.public_id)


@pytest.mark.skipif(not ON_POSTGRES, reason="the unnest insert is PostgreSQL's")
def test_the_postgresql_bulk_insert_stores_what_bulk_create_stores():
    """bulk.insert_events sends its own INSERT ... unnest(...) on PostgreSQL; every column must
    come out as Django's bulk_create stores it."""
    from datetime import timedelta

    from django.db import models
    from django.utils import timezone

    from django_leadpixel.enrichment import GeoStatus
    from django_leadpixel.ingest.bulk import insert_events as _insert

    class Source(models.TextChoices):  # a str subclass: prepared by the field, not as is
        HUMAN = "human"

    message = make_message()
    when = timezone.now()
    variants = [
        dict(ip="198.51.100.7", user_agent=CHROME, source=Source.HUMAN, latitude=51.5, longitude=-0.12,
             accuracy_radius=20, asn=64500, country="GB", city="Londön", geo_status=GeoStatus.OK,
             enriched_at=when, os="Windows", browser="Chrome"),
        dict(ip="2001:db8::1", user_agent="", source="google_proxy", masked=True,
             geo_status=GeoStatus.MASKED, operator="Google", enriched_at=when),
        dict(ip=None, user_agent="", anonymous=True, reason="Stored anonymously: no tracking consent.",
             source="unknown", geo_status=GeoStatus.SKIPPED),
        dict(ip="203.0.113.9", user_agent="UA with 'quotes', {braces}, \"dq\" and \\ backslash",
             source="scanner", method="HEAD"),
    ]
    for model, extra in ((Open, {}), (Click, {"url": "https://example.com/a?b=1&c={x}",
                                               "position": 3, "honeypot": True})):
        via_orm, via_unnest = [], []
        for i, fields in enumerate(variants):
            common = dict(message=message, occurred_at=when + timedelta(seconds=i), **fields, **extra)
            via_orm.append(model(**common))
            via_unnest.append(model(**common))
        model.objects.bulk_create(via_orm, ignore_conflicts=True)
        _insert(via_unnest)
        _insert(via_unnest)  # again: ON CONFLICT DO NOTHING, as ignore_conflicts
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        stored = {row.pk: [getattr(row, n) for n in names] for row in model.objects.all()}
        assert len(stored) == 2 * len(variants)
        for a, b in zip(via_orm, via_unnest, strict=True):
            assert stored[a.pk] == stored[b.pk]
    # A value too long for its column is refused, as bulk_create's is, not cut by a cast.
    from django.db import DataError, transaction

    with pytest.raises(DataError), transaction.atomic():
        _insert([Open(message=message, occurred_at=when, source="human", method="PROPFIND!")])


def test_a_full_buffer_sends_hits_to_the_database_directly(client, buffered, caplog):
    # Issue 14, item 13: the Redis list has a maximum length.
    redis, key = buffered
    message = make_message()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "INGEST": "redis",
                                      "INGEST_KEY": key, "INGEST_MAX_LENGTH": 2, "REPEAT_WINDOW": 0,
                                      "INGEST_REDIS_URL": "redis://127.0.0.1:6379/12"}):
        redis.script_flush()  # the first push loads the script again (NOSCRIPT)
        for _ in range(3):
            assert pixel(client, message).status_code == 200
        assert (redis.llen(key), Open.objects.count()) == (2, 1)
        assert "holds INGEST_MAX_LENGTH (2) lines" in caplog.text
        assert buffer.drain()["stored"] == 2
    assert Open.objects.count() == 3
