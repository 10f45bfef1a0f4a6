"""leads/ and leads/{email}/: figures, filters, cursor pages, permissions, query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from django_leadpixel.models import Visit
from django_leadpixel.reports import leads

from .conftest import API, client_for, make_click, make_message, make_open, user_with

pytestmark = pytest.mark.django_db

LEADS = API + "leads/"


@pytest.fixture
def people():
    now = timezone.now()
    ada = make_message(recipient="ada@example.com", campaign="spring")
    make_open(ada, at=now - timedelta(days=1), country="GB", city="London", device_type="desktop",
              enriched_at=now)
    make_click(ada, at=now - timedelta(days=1), country="GB", city="London", device_type="desktop",
               enriched_at=now)
    Visit.objects.create(message=ada, path="/pricing/", source="human", occurred_at=now - timedelta(hours=20))
    again = make_message(recipient="Ada@Example.com", campaign="autumn")
    make_open(again, at=now - timedelta(days=3), source="google_proxy", masked=True, city="Mountain View")
    grace = make_message(recipient="grace@example.com", campaign="spring")
    make_open(grace, at=now - timedelta(days=40))
    tim = make_message(recipient="tim@example.com", campaign="autumn")
    make_click(tim, source="scanner")
    for n in range(4):
        make_message(recipient=f"quiet{n}@example.com", campaign="winter")
    leads.refresh()  # PostgreSQL: the list is a materialized view
    return ada


def emails(response):
    assert response.status_code == 200, response.content
    return [row["email"] for row in response.json()["results"]]


def test_the_list_by_score_with_its_figures(api, people):
    response = api.get(LEADS)
    rows = {row["email"]: row for row in response.json()["results"]}
    assert emails(response)[:3] == ["ada@example.com", "grace@example.com", "quiet0@example.com"]
    ada = rows["ada@example.com"]
    assert (ada["messages"], ada["opened"], ada["events"]) == (2, 2, {"opens": 2, "clicks": 1, "downloads": 0,
                                                                 "visits": 1})
    assert ada["score"] > rows["grace@example.com"]["score"] > 0 == rows["tim@example.com"]["score"]


def test_filters(api, people):
    assert emails(api.get(LEADS, {"engaged": "true"})) == ["ada@example.com", "grace@example.com"]
    assert "ada@example.com" not in emails(api.get(LEADS, {"engaged": "false"}))
    assert sorted(emails(api.get(LEADS, {"campaign": "autumn"}))) == ["ada@example.com", "tim@example.com"]
    since = (timezone.now() - timedelta(days=10)).isoformat()
    assert emails(api.get(LEADS, {"last_seen_after": since})) == ["ada@example.com"]
    assert emails(api.get(LEADS, {"q": "GRACE"})) == ["grace@example.com"]
    assert api.get(LEADS, {"last_seen_after": "yesterday"}).status_code == 400
    assert api.get(LEADS, {"ordering": "ip"}).status_code == 400


def test_cursor_pages_cover_every_lead_once(api, people):
    quiet = [f"quiet{n}@example.com" for n in range(4)]
    for ordering, expected in (
            ("-score", ["ada@example.com", "grace@example.com", *quiet, "tim@example.com"]),
            ("score", [*quiet, "tim@example.com", "grace@example.com", "ada@example.com"])):
        seen, url = [], LEADS + f"?page_size=3&ordering={ordering}"
        while url:
            data = api.get(url).json()
            seen += [row["email"] for row in data["results"]]
            url = data["next"]
        # Equal scores go by address, A to Z, whichever way the scores go.
        assert seen == expected, ordering
    assert api.get(LEADS, {"cursor": "garbage"}).status_code == 400


def test_the_lead_in_any_case(people, django_assert_max_num_queries):
    api = client_for(user_with("full", "view_message", "view_open", "view_click", "view_download",
                               "view_visit"))
    with django_assert_max_num_queries(20):  # 1 + 4 per kind, and the user
        response = api.get(LEADS + "ADA@example.COM/")
    assert response.status_code == 200
    data = response.json()
    assert data["email"] == "ada@example.com" and data["events"]["visits"] == 1
    assert len(data["messages_sent"]) == 2
    assert data["places"] == [{"country": "GB", "region": "", "city": "London", "count": 2}]
    events = [e for e in data["timeline"] if e["kind"] != "sent"]  # sent now, events backdated
    assert [e["kind"] for e in events] == ["visit", "open", "click", "open"] or \
        [e["kind"] for e in events] == ["visit", "click", "open", "open"]
    assert events[0]["path"] == "/pricing/" and events[-1]["source"] == "google_proxy"
    assert api.get(LEADS + "nobody@example.com/").status_code == 404


def test_the_list_costs_the_same_queries_for_more_leads(api, people, django_assert_max_num_queries):
    with django_assert_max_num_queries(3) as before:
        api.get(LEADS)
    for n in range(10):
        make_open(make_message(recipient=f"more{n}@example.com"))
    leads.refresh()
    with django_assert_max_num_queries(len(before.captured_queries)):
        api.get(LEADS)


def test_permissions_as_the_messages(people, anonymous):
    assert anonymous.get(LEADS).status_code in (401, 403)
    nobody = client_for(user_with("nobody"))
    assert nobody.get(LEADS).status_code == 403
    assert nobody.get(LEADS + "ada@example.com/").status_code == 403
    reader = client_for(user_with("reader", "view_message"))
    assert reader.get(LEADS).status_code == 200
    data = reader.get(LEADS + "ada@example.com/").json()
    assert "timeline" not in data and "places" not in data  # events need their own permissions
