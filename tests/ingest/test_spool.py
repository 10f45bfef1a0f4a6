"""Fail-open: a real database outage, the spool, and its replay."""

import json
import os
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from django_leadpixel import tokens
from django_leadpixel.models import Click, Open
from django_leadpixel.views import PIXEL_GIF

from ..conftest import CHROME, GMAIL_PROXY, free_port

pytestmark = pytest.mark.django_db


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, agent):
    request = urllib.request.Request(url, headers={"User-Agent": agent})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:  # the 302 lands here without a redirect handler
        return exc.code, exc.headers, exc.read()


def down_database_env(tmp_path: Path) -> dict:
    """Settings of the example project pointing at a database that is not there."""
    if os.environ.get("LEADPIXEL_TEST_DB") == "postgres":
        return {"LEADPIXEL_DB": "postgres", "PGHOST": "127.0.0.1", "PGPORT": str(free_port())}
    return {"SQLITE_PATH": str(tmp_path / "no-such-dir" / "db.sqlite3")}


def test_outage_spools_events_and_replay_stores_each_once(example_server, tmp_path, message):
    spool = tmp_path / "spool.jsonl"
    server = example_server(LEADPIXEL_SPOOL_FILE=str(spool), **down_database_env(tmp_path))
    destination = "https://shop.example.com/offer?x=1"

    status, headers, body = fetch(server.url + "/t/o/" + tokens.make_open_token(message.public_id)
                                  + ".gif", GMAIL_PROXY)
    assert (status, body, headers["Content-Type"]) == (200, PIXEL_GIF, "image/gif")
    click_token = tokens.make_click_token(message.public_id, destination, 4)
    status, headers, _ = fetch(server.url + "/t/c/" + click_token, CHROME)
    assert (status, headers["Location"]) == (302, destination)

    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(x["kind"], x["message"]) for x in lines] == [
        ("open", str(message.public_id)), ("click", str(message.public_id))]
    assert lines[0]["source"] == "google_proxy" and lines[1]["position"] == 4

    spool.write_text(spool.read_text() + "not json\n")
    call_command("leadpixel_replay", str(spool))
    call_command("leadpixel_replay", str(spool))  # twice: still one row per event
    open_, click = Open.objects.get(), Click.objects.get()
    assert str(open_.id) == lines[0]["id"] and open_.source == "google_proxy"
    assert (click.url, click.position, click.user_agent) == (destination, 4, CHROME)


def test_replay_of_a_missing_file_is_a_clear_error(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot read spool file"):
        call_command("leadpixel_replay", str(tmp_path / "nope.jsonl"))


@pytest.mark.django_db
def test_replaying_a_batch_again_sends_no_signal_for_events_already_stored(message):
    # Issue 14, item 14: without the event-id check, replay re-sent signals for
    # events already stored; this pins it on SQLite too (not only the Redis test).
    from django_leadpixel.ingest.bulk import store_many
    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.ingest.record import verdict_for
    from django_leadpixel.signals import click_recorded, open_recorded

    hits = [Hit(kind="open", message_id=message.public_id, ip="198.51.100.8", user_agent=CHROME),
            Hit(kind="click", message_id=message.public_id, ip="198.51.100.8", user_agent=CHROME,
                url="https://example.com/x", position=1)]
    batch = [(hit, verdict_for(hit)) for hit in hits]
    sent = []

    def receiver(sender, event, **kwargs):
        sent.append(event.pk)

    open_recorded.connect(receiver, dispatch_uid="replay-once-open")
    click_recorded.connect(receiver, dispatch_uid="replay-once-click")
    try:
        assert store_many(batch)["stored"] == 2
        assert store_many(batch)["duplicate"] == 2
        assert store_many(batch[:1] + batch[:1])["duplicate"] == 2
    finally:
        open_recorded.disconnect(dispatch_uid="replay-once-open")
        click_recorded.disconnect(dispatch_uid="replay-once-click")
    assert sorted(sent) == sorted(hit.id for hit in hits)
    assert (Open.objects.count(), Click.objects.count()) == (1, 1)
