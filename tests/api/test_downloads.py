"""The downloads list and the download figures of ``stats/``."""

from __future__ import annotations

import pytest
from django.utils import timezone

from django_leadpixel.models import Document, Download

from ..conftest import make_message
from .conftest import API, client_for, minutes, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def downloads():
    report = Document.objects.create(title="Report", url="https://cdn.example.com/report.pdf")
    price = Document.objects.create(title="Price list", url="https://cdn.example.com/prices.pdf")
    message = make_message(campaign="autumn", sent_at=minutes(0))
    rows = {
        "person": Download.objects.create(message=message, document_id=report.public_id,
                                          occurred_at=minutes(5), source="human", country="GB",
                                          ip="81.2.69.160", user_agent="secret agent"),
        "scanner": Download.objects.create(message=message, document_id=price.public_id,
                                           occurred_at=minutes(1), source="scanner"),
    }
    return message, report, price, rows


def test_the_list_shows_downloads_without_personal_data(api, downloads):
    message, report, _price, rows = downloads
    data = api.get(API + "downloads/").json()["results"]
    assert [row["id"] for row in data] == [str(rows["person"].id), str(rows["scanner"].id)]
    assert data[0]["document"] == str(report.public_id)
    assert data[0]["message"] == str(message.public_id)
    assert "ip" not in data[0] and "user_agent" not in data[0]
    only = api.get(API + "downloads/", {"document": str(report.public_id)}).json()["results"]
    assert [row["id"] for row in only] == [str(rows["person"].id)]
    humans = api.get(API + "downloads/", {"source": "human", "campaign": "autumn"}).json()["results"]
    assert [row["id"] for row in humans] == [str(rows["person"].id)]
    assert api.get(API + "downloads/", {"document": "not-a-uuid"}).status_code == 400


def test_the_list_needs_view_download(db, downloads):
    reader = client_for(user_with("opens-only", "view_open", "view_click", "view_message"))
    assert reader.get(API + "downloads/").status_code == 403


def test_stats_count_downloads(api, downloads):
    _message, report, price, _rows = downloads
    day = timezone.localdate(minutes(0)).isoformat()
    body = api.get(API + "stats/", {"campaign": "autumn", "start": day, "end": day}).json()
    figures = body["downloads"]
    assert (figures["downloads_by_people"], figures["downloads_by_machines"]) == (1, 1)
    assert {row["title"]: (row["people"], row["machines"]) for row in figures["by_document"]} == {
        "Report": (1, 0), "Price list": (0, 1)}
    assert figures["top_countries"] == [["GB", 1]]
    # The person's download proves the message was opened by a person.
    assert (body["opened_by_person"], body["opened_any"]) == (1, 1)
    assert price.title == "Price list"
