"""Erase and purge: everything about a recipient goes, and the commands say from where
(issue 14, items 11 and 16)."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_leadpixel import reports
from django_leadpixel.ingest import buffer
from django_leadpixel.ingest.hits import Hit, dumps, to_line
from django_leadpixel.ingest.record import verdict_for
from django_leadpixel.models import Click, Message, Open, ReportCell, ReportDirty
from django_leadpixel.reports import rollup

from ..admin.helpers import T0, click, message, open_
from ..conftest import CHROME, IN_CI, redis_up

pytestmark = pytest.mark.django_db(transaction=True)


def line_about(msg, ip="198.51.100.40") -> str:
    hit = Hit(kind="open", message_id=msg.public_id, ip=ip, user_agent=CHROME)
    return dumps(to_line(hit, verdict_for(hit)))


def test_erase_clears_spool_files_and_says_what_it_removed(tmp_path):
    gone, stays = message(recipient="gone@example.com"), message(recipient="stays@example.com")
    open_(gone), click(gone), open_(stays)
    spool, moved = tmp_path / "spool.jsonl", tmp_path / "spool-replay.jsonl"
    spool.write_text(line_about(gone) + "\n" + line_about(stays) + "\nnot json\n")
    moved.write_text(line_about(gone) + "\n")
    out = StringIO()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                                      "SPOOL_FILE": str(spool)}):
        call_command("leadpixel_erase", "GONE@example.com", "--spool", str(moved), stdout=out)
    text = out.getvalue()
    assert "erased 1 message to GONE@example.com, 1 open, 1 click, 0 downloads and 0 visits" in text
    assert f"removed 1 waiting hit from spool file {spool}" in text
    assert f"removed 1 waiting hit from spool file {moved}" in text
    assert str(gone.public_id) not in spool.read_text() + moved.read_text()
    assert str(stays.public_id) in spool.read_text() and "not json" in spool.read_text()
    assert oct(spool.stat().st_mode & 0o777) == oct(0o600)
    assert list(Message.objects.values_list("recipient", flat=True)) == ["stays@example.com"]


def test_erase_clears_the_redis_buffer():
    if not redis_up():
        if IN_CI:
            pytest.fail("Redis on 127.0.0.1:6379 is required in CI")
        pytest.skip("needs Redis on 127.0.0.1:6379")
    gone, stays = message(recipient="gone@example.com"), message(recipient="stays@example.com")
    key = f"leadpixel:test:erase:{uuid.uuid4().hex}"
    settings = {"BASE_URL": "https://mail.example.com", "INGEST": "redis", "INGEST_KEY": key,
                "INGEST_REDIS_URL": "redis://127.0.0.1:6379/12"}
    with override_settings(LEADPIXEL=settings):
        redis = buffer.client()
        redis.rpush(key, line_about(gone), line_about(stays), line_about(gone, "203.0.113.9"))
        try:
            out = StringIO()
            call_command("leadpixel_erase", "gone@example.com", stdout=out)
            left = [json.loads(line)["message"] for line in redis.lrange(key, 0, -1)]
            assert "removed 2 waiting hits from the Redis buffer" in out.getvalue()
            assert left == [str(stays.public_id)]
            assert buffer.drain()["stored"] == 1
        finally:
            redis.delete(key)
    assert list(Open.objects.values_list("message__recipient", flat=True)) == ["stays@example.com"]


def test_erase_rebuilds_the_report_cells_at_once():
    gone = message(recipient="gone@example.com", campaign="c")
    stays = message(recipient="stays@example.com", campaign="c")
    open_(gone), click(gone), open_(stays)
    rollup.refresh()
    assert reports.campaign_report(campaign="c")["opened_by_person"] == 2
    out = StringIO()
    call_command("leadpixel_erase", "gone@example.com", stdout=out)
    assert "rebuilt 1 report cell" in out.getvalue()
    assert not ReportDirty.objects.exists()  # nothing left stale
    [cell] = ReportCell.objects.all()
    assert (cell.sent, cell.data["opened_by_person"]) == (1, 1)
    assert rollup.report_partial(campaign="c")[1] == {"cells": 1, "live": 0}


def test_purge_says_what_went_with_the_messages_and_marks_cells_not_messages():
    for i in range(30):  # three campaigns, two sending days: six cells
        msg = message(recipient=f"r{i}@example.com", campaign=f"c{i % 3}",
                      sent_at=T0 + timedelta(days=i % 2))
        open_(msg), open_(msg, "google_proxy"), click(msg)
    rollup.refresh()
    out = StringIO()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                                      "RETENTION_DAYS": 1, "BATCH_SIZE": 7}):
        call_command("leadpixel_purge", stdout=out)
    assert "deleted 30 messages, with 60 opens, 30 clicks, 0 downloads and 0 visits" in out.getvalue()
    assert Open.objects.count() == Click.objects.count() == 0
    assert ReportDirty.objects.count() == 6  # one per cell, whatever the batches
