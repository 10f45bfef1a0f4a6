"""Personal data outside the database: the spool and the Redis buffer (issue 14, items 10, 12)."""

import json
import logging
import os
import stat

import pytest
from django.db import DatabaseError
from django.test import override_settings

from django_leadpixel import tokens
from django_leadpixel.ingest import direct
from django_leadpixel.ingest import spool as spool_module
from django_leadpixel.ingest.spool import PrivateFileHandler
from django_leadpixel.models import Open

from ..conftest import CHROME, IN_CI, make_message, redis_up

pytestmark = pytest.mark.django_db


def pixel(client, message, ip="198.51.100.23"):
    return client.get(message.pixel_url(), HTTP_USER_AGENT=CHROME, REMOTE_ADDR=ip)


def test_a_token_carries_the_messages_consent():
    with_consent, without = make_message(), make_message(tracking_consent=False)
    read = tokens.read_open(with_consent.pixel_url().rsplit("/", 1)[1].removesuffix(".gif"))
    assert read.consent is True
    read = tokens.read_open(without.pixel_url().rsplit("/", 1)[1].removesuffix(".gif"))
    assert (read.message_id, read.consent) == (without.public_id, False)
    click = tokens.read_click_token(without.tracked_url("https://example.com/").rsplit("/", 1)[1])
    assert click.consent is False
    # Tokens made before the flag existed still read as "with consent".
    assert tokens.read_open(tokens.make_open_token(without.public_id)).consent is True


def test_without_consent_the_spool_holds_no_address_and_no_agent(client, tmp_path, monkeypatch):
    message = make_message(tracking_consent=False)
    handler = logging.FileHandler(tmp_path / "spool.jsonl")
    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger("lp.test.privacy.spool"))
    spool_module.spool_logger.addHandler(handler)
    spool_module.spool_logger.setLevel(logging.INFO)

    def database_down(self, hit, verdict):
        raise DatabaseError("the database is down")

    monkeypatch.setattr(direct.DirectBackend, "store", database_down)
    try:
        assert pixel(client, message).status_code == 200
        assert client.get(message.tracked_url("https://example.com/a"), HTTP_USER_AGENT=CHROME,
                          REMOTE_ADDR="198.51.100.23").status_code == 302
    finally:
        spool_module.spool_logger.removeHandler(handler)
        handler.close()
    text = (tmp_path / "spool.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["kind"] for line in lines] == ["open", "click"]
    assert all(line["ip"] is None and line["user_agent"] == "" for line in lines)
    assert "198.51.100.23" not in text and "Chrome" not in text
    # Classified from the request all the same (a browser: a person).
    assert {line["source"] for line in lines} == {"human"}


def test_with_consent_the_spool_keeps_what_replay_needs(client, tmp_path, monkeypatch):
    message = make_message()
    handler = logging.FileHandler(tmp_path / "spool.jsonl")
    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger("lp.test.privacy.spool2"))
    spool_module.spool_logger.addHandler(handler)
    spool_module.spool_logger.setLevel(logging.INFO)
    monkeypatch.setattr(direct.DirectBackend, "store",
                        lambda self, hit, verdict: (_ for _ in ()).throw(DatabaseError("down")))
    try:
        pixel(client, message)
    finally:
        spool_module.spool_logger.removeHandler(handler)
        handler.close()
    [line] = [json.loads(x) for x in (tmp_path / "spool.jsonl").read_text().splitlines()]
    assert (line["ip"], line["user_agent"]) == ("198.51.100.23", CHROME)


def test_without_consent_the_redis_buffer_holds_no_address_and_no_agent(client):
    if not redis_up():
        if IN_CI:
            pytest.fail("Redis on 127.0.0.1:6379 is required in CI")
        pytest.skip("needs Redis on 127.0.0.1:6379")
    from django_leadpixel.ingest import buffer

    key = "leadpixel:test:privacy"
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "INGEST": "redis",
                                      "INGEST_KEY": key,
                                      "INGEST_REDIS_URL": "redis://127.0.0.1:6379/12"}):
        redis = buffer.client()
        redis.delete(key)
        try:
            pixel(client, make_message(tracking_consent=False))
            [raw] = redis.lrange(key, 0, -1)
            line = json.loads(raw)
            assert (line["ip"], line["user_agent"]) == (None, "")
            assert buffer.drain()["stored"] == 1
        finally:
            redis.delete(key)
    stored = Open.objects.get()
    assert (stored.anonymous, stored.ip, stored.user_agent) == (True, None, "")


def test_the_spool_file_is_created_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "spool.jsonl"
    old = os.umask(0o022)
    try:
        handler = PrivateFileHandler(path, encoding="utf-8")
        handler.emit(logging.makeLogRecord({"msg": "a line"}))
        handler.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Moved aside for replay, it is created again, private again.
    path.rename(tmp_path / "replay.jsonl")
    handler = PrivateFileHandler(path, encoding="utf-8")
    handler.emit(logging.makeLogRecord({"msg": "another"}))
    handler.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_spool_handler_is_the_private_one(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger("lp.test.privacy.default"))
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                                      "SPOOL_FILE": str(tmp_path / "spool.jsonl")}):
        logger = spool_module.configured_logger()
        try:
            assert [type(h) for h in logger.handlers] == [PrivateFileHandler]
        finally:
            for handler in logger.handlers:
                handler.close()
            logger.handlers.clear()
