"""record(): the backend LEADPIXEL["INGEST"] names, and what a stored hit announces."""

import pytest
from django.test import override_settings

from django_leadpixel import signals, tokens
from django_leadpixel.ingest.direct import DirectBackend
from django_leadpixel.models import Open

from ..conftest import CHROME, make_message

pytestmark = pytest.mark.django_db


class Counting(DirectBackend):
    """A project's own backend: stores directly, and counts."""

    stored: list = []

    def store(self, hit, verdict):
        Counting.stored.append(hit.id)
        return super().store(hit, verdict)


def pixel(client, message):
    return client.get("/t/o/" + tokens.make_open_token(message.public_id) + ".gif",
                      HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.4")


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                              "INGEST": "tests.ingest.test_record.Counting"})
def test_ingest_names_a_backend_class_of_the_project(client):
    message = make_message()
    assert pixel(client, message).status_code == 200
    assert Counting.stored == [Open.objects.get().pk]


def test_a_stored_hit_is_announced_after_commit_for_enrichment(
        client, django_capture_on_commit_callbacks):
    announced = []

    def receiver(sender, kind, ids, **kwargs):
        announced.append((kind, list(ids)))

    signals.events_stored.connect(receiver, dispatch_uid="test-announce")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            pixel(client, make_message())
    finally:
        signals.events_stored.disconnect(dispatch_uid="test-announce")
    assert announced == [("open", [Open.objects.get().pk])]
    assert Open.objects.get().enriched_at is not None  # apps.ready() connected the task


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": False})
def test_nothing_is_announced_without_enrich_on_record(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pixel(client, make_message())
    assert callbacks == [] and Open.objects.get().enriched_at is None


# --- replays are counted, not stored again (issue 14, item 13) ---------------------------------

def test_a_replayed_token_is_counted_on_one_row(client):
    message = make_message()
    for _ in range(25):
        assert pixel(client, message).status_code == 200
    assert Open.objects.count() == 1 and Open.objects.get().repeats == 24
    url = message.tracked_url("https://example.com/a")
    for _ in range(10):
        assert client.get(url, HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.4")["Location"] \
            == "https://example.com/a"
    from django_leadpixel.models import Click

    assert Click.objects.count() == 1 and Click.objects.get().repeats == 9
    # Message figures for people stay what they were.
    from django_leadpixel.models import Message, Status

    figures = Message.objects.with_stats().with_status().get()
    assert (figures.status, figures.human_opens, figures.human_clicks) == (Status.PERSON, 1, 1)


def test_what_differs_is_stored_and_a_repeat_after_the_window_too(client):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    message = make_message()
    pixel(client, message)
    client.get(message.pixel_url(), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.5")
    client.get(message.pixel_url(), HTTP_USER_AGENT=CHROME + " other", REMOTE_ADDR="198.51.100.4")
    client.head(message.pixel_url(), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.4")
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        pixel(client, message)
    assert Open.objects.count() == 5 and sum(Open.objects.values_list("repeats", flat=True)) == 0


def test_without_consent_replays_are_counted_too(client):
    message = make_message(tracking_consent=False)
    for address in ("198.51.100.4", "198.51.100.5", "198.51.100.6"):
        pixel(client, message)
        client.get(message.pixel_url(), HTTP_USER_AGENT=CHROME, REMOTE_ADDR=address)
    row = Open.objects.get()
    assert (row.anonymous, row.ip, row.repeats) == (True, None, 5)


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "REPEAT_WINDOW": 0})
def test_a_repeat_window_of_zero_stores_every_hit(client):
    message = make_message()
    for _ in range(3):
        pixel(client, message)
    assert Open.objects.count() == 3


def test_the_drain_and_replay_count_repeats_as_the_request_path_does():
    from django_leadpixel.ingest.bulk import store_many
    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.ingest.record import record, verdict_for

    message = make_message()
    first = Hit(kind="open", message_id=message.public_id, ip="198.51.100.4", user_agent=CHROME)
    assert record(first)  # stored by a request
    again = [Hit(kind="open", message_id=message.public_id, ip="198.51.100.4", user_agent=CHROME)
             for _ in range(4)]
    other = Hit(kind="open", message_id=message.public_id, ip="198.51.100.9", user_agent=CHROME)
    counts = store_many([(hit, verdict_for(hit)) for hit in [*again, other, other]])
    assert (counts["stored"], counts["repeat"], counts["duplicate"]) == (1, 4, 1)
    assert sorted(Open.objects.values_list("ip", "repeats")) == [("198.51.100.4", 4),
                                                                  ("198.51.100.9", 0)]
