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
