"""The lead: one address across its messages, against a fixture computed by hand."""

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from django_leadpixel.models import KINDS, Click, Download, Lead, Message, Open, Status, Visit
from django_leadpixel.reports import leads

from ..conftest import make_message

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def at(days: float):
    return NOW - timedelta(days=days)


def event(model, message, days, source, **fields):
    fields.setdefault("enriched_at", NOW)
    fields.setdefault("masked", source != "human")
    if model is Click:
        fields.setdefault("url", "https://shop.example.com/")
    if model is Visit:
        fields.setdefault("path", "/shop/")
    return model.objects.create(message=message, occurred_at=at(days), source=source, **fields)


@pytest.fixture
def fixture():
    m1 = make_message(recipient="alice@example.com", campaign="spring", sent_at=at(11))
    m2 = make_message(recipient="Alice@Example.com", campaign="spring", sent_at=at(6))
    m3 = make_message(recipient="alice@example.com", campaign="summer", sent_at=at(1))
    bob = make_message(recipient="bob@example.com", campaign="summer", sent_at=at(2))
    desktop = {"device_type": "desktop", "os": "Windows", "browser": "Chrome"}
    event(Open, m1, 10, "human", country="US", region="NY", city="New York", **desktop)
    event(Open, m1, 9, "human", country="US", region="NY", city="New York", **desktop)
    event(Open, m1, 8, "google_proxy", country="US", city="Mountain View", operator="Google")
    event(Open, m1, 10.9, "apple_mpp")
    event(Click, m1, 8, "human", country="US", region="NY", city="New York", **desktop)
    event(Click, m1, 10.95, "scanner", country="DE", city="Frankfurt", device_type="bot")
    event(Visit, m1, 7 + 1 / 24, "human", country="FR", city="Paris", device_type="mobile", os="iOS")
    event(Visit, m1, 7, "human", country="FR", city="Paris", device_type="mobile", os="iOS")
    event(Visit, m1, 10.95, "scanner", country="DE", city="Frankfurt")
    event(Open, m2, 5.9, "apple_mpp")
    event(Click, bob, 1.9, "scanner")
    assert leads.refresh()  # PostgreSQL: the list is a materialized view
    return m1, m2, m3, bob


def test_the_lead_list_against_the_hand_computed_figures(fixture):
    alice = Lead.objects.get(email="alice@example.com")
    assert (alice.messages, alice.opened, alice.opens, alice.clicks, alice.visits) == (3, 1, 3, 1, 2)
    assert abs((alice.first_seen - at(10)).total_seconds()) < 1
    assert abs((alice.last_seen - at(7)).total_seconds()) < 1
    # points 1×3 + 3×1 + 2×2 = 10, seen 7 days ago: 10 / (1 + 7/30) = 8.108...
    assert alice.score == 8.1
    bob = Lead.objects.get(email="bob@example.com")
    assert (bob.messages, bob.opened, bob.opens, bob.clicks, bob.visits, bob.score) == (1, 0, 0, 0, 0, 0)
    assert bob.first_seen is None and bob.last_seen is None
    assert list(Lead.objects.values_list("email", flat=True)) == ["alice@example.com", "bob@example.com"]
    assert list(Lead.objects.order_by("-last_sent").values_list("email", flat=True)) == [
        "alice@example.com", "bob@example.com"]


def test_filters(fixture):
    assert [lead.email for lead in leads.leads(search="ALICE")] == ["alice@example.com"]
    assert [lead.email for lead in leads.leads(campaign="summer")] == ["alice@example.com", "bob@example.com"]
    assert [lead.email for lead in leads.leads(campaign="spring")] == ["alice@example.com"]
    assert [lead.email for lead in leads.leads(engaged=True)] == ["alice@example.com"]
    assert [lead.email for lead in leads.leads(engaged=False)] == ["bob@example.com"]
    since = at(8)
    assert [lead.email for lead in Lead.objects.filter(last_seen__gte=since)] == ["alice@example.com"]


def test_the_lead_page_places_devices_and_timeline(fixture, django_assert_num_queries):
    with django_assert_num_queries(1 + 4 * len(KINDS)):
        detail = leads.lead_detail(" Alice@EXAMPLE.com ")
    assert detail["email"] == "alice@example.com" and detail["lead"].score == 8.1
    assert [m.campaign for m in detail["messages"]] == ["summer", "spring", "spring"]
    # A person's own events only: never the proxy's Mountain View, the scanner's Frankfurt.
    assert detail["places"] == [
        {"country": "US", "region": "NY", "city": "New York", "count": 3},
        {"country": "FR", "region": "", "city": "Paris", "count": 2}]
    assert [(d["device_type"], d["os"], d["count"]) for d in detail["devices"]] == [
        ("desktop", "Windows", 3), ("mobile", "iOS", 2)]
    kinds = [entry["kind"] for entry in detail["timeline"]]
    assert Counter(kinds) == {"sent": 3, "open": 5, "click": 2, "visit": 3}
    times = [entry["at"] for entry in detail["timeline"]]
    assert times == sorted(times, reverse=True)
    assert leads.lead_detail("nobody@example.com") is None


def test_the_lead_page_costs_the_same_queries_with_more_messages(fixture, django_assert_num_queries):
    for n in range(5):
        message = make_message(recipient="alice@example.com", sent_at=at(n))
        event(Open, message, n, "human")
        event(Visit, message, n, "human")
    with django_assert_num_queries(1 + 4 * len(KINDS)):
        detail = leads.lead_detail("alice@example.com")
    assert detail["lead"].messages == 8 and detail["lead"].visits == 7  # live, not the list's view


def test_a_persons_download_proves_the_message_opened_on_every_page():
    message = make_message(recipient="carol@example.com", sent_at=at(3))
    event(Open, message, 2.99, "apple_mpp")  # the prefetch proves nothing
    download = event(Download, message, 2, "human", document_id=uuid.uuid4())
    assert leads.refresh()
    row = Lead.objects.get(email="carol@example.com")
    assert (row.opened, row.opens, row.downloads) == (1, 0, 1)
    assert leads.lead_detail("carol@example.com")["lead"].opened == 1
    stats = Message.objects.with_stats().with_status().get(pk=message.pk)
    assert (stats.status, stats.first_human_open) == (Status.PERSON, download.occurred_at)


def test_the_live_summary_is_the_list_row(fixture):
    for email in ("alice@example.com", "bob@example.com"):
        live = leads.lead_detail(email)["lead"]
        row = Lead.objects.get(email=email)
        for field in Lead._meta.fields:
            value, stored = getattr(live, field.name), getattr(row, field.name)
            if field.name in ("first_seen", "last_seen", "last_sent") and value is not None:
                assert abs((value - stored).total_seconds()) < 1e-3, field.name
            else:
                assert value == stored, field.name


def test_the_list_is_as_of_the_last_refresh(fixture):
    m1 = fixture[0]
    event(Visit, m1, 0.5, "human")
    assert leads.refresh()
    assert Lead.objects.get(email="alice@example.com").visits == 3


def test_the_score(fixture):
    now = timezone.now()
    assert leads.score_of(10, None) == 0.0
    assert leads.score_of(10, now, now) == 10.0
    assert leads.score_of(10, now - timedelta(days=30), now) == 5.0
    assert leads.score_of(9, now - timedelta(days=60), now) == 3.0
    assert leads.score_of(3, now + timedelta(days=1), now) == 3.0  # a clock ahead: no bonus


def test_the_view_is_made_again_from_the_kinds():
    assert leads.install_view() is True
    assert Lead.objects.count() == 0
    for kind in KINDS:
        assert f" AS {kind}s" in leads.view_sql(connection)
