"""stats/: the admin report's figures, by the same function."""

import datetime
from datetime import timedelta
from unittest import mock

import pytest

from django_leadpixel import reports

from .conftest import API, T0, make_click, make_message, make_open

pytestmark = pytest.mark.django_db

URL = API + "stats/"


@pytest.fixture
def campaign(db):
    ada = make_message(campaign="autumn", sent_at=T0)
    make_open(ada, source="google_proxy", at=T0 + timedelta(minutes=5))
    make_click(ada, source="human", at=T0 + timedelta(minutes=6), country="FR",
               device_type="mobile", os="iOS")
    tim = make_message(campaign="autumn", sent_at=T0 + timedelta(days=3))
    make_open(tim, source="apple_mpp", at=T0 + timedelta(days=3))
    make_message(campaign="spring", sent_at=T0)
    return ada, tim


def test_stats_are_the_campaign_report(api, campaign):
    response = api.get(URL + "?campaign=autumn&start=2024-05-01&end=2024-05-02")
    assert response.status_code == 200, response.content
    body = response.json()
    downloads = body.pop("downloads")
    assert downloads["downloads_by_people"] == 0 and downloads["by_document"] == []
    assert body == reports.campaign_report(
        campaign="autumn", start=datetime.date(2024, 5, 1), end=datetime.date(2024, 5, 2))
    assert body["filters"] == {"campaign": "autumn", "start": "2024-05-01", "end": "2024-05-02"}
    assert (body["sent"], body["opened_by_person"], body["clicked_by_person"]) == (1, 1, 1)
    assert body["opens_by_source"]["google_proxy"] == 1


def test_stats_call_the_report_function(api, campaign):
    with mock.patch.object(reports, "campaign_report", return_value={"sent": 0}) as report:
        response = api.get(URL + "?campaign=autumn&start=2024-05-01")
    assert response.json()["sent"] == 0
    report.assert_called_once_with(campaign="autumn", start=datetime.date(2024, 5, 1))


def test_stats_without_parameters_cover_everything(api, campaign):
    body = api.get(URL).json()
    assert body["sent"] == 3 and body["filters"] == {"campaign": None, "start": None, "end": None}
    assert body["opened_any"] == 2


@pytest.mark.parametrize(("query", "field", "fragment"), [
    ("start=2024-02-30", "start", "wrong format"),
    ("end=tomorrow", "end", "wrong format"),
    ("start=2024-05-02&end=2024-05-01", "end", "before start"),
    ("campaign=" + "x" * 201, "campaign", "no more than 200"),
    ("campaign=a%00b", "campaign", "null characters"),
])
def test_bad_stats_parameters_are_400(api, campaign, query, field, fragment):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert fragment.lower() in " ".join(response.json()[field]).lower()


def test_one_day_range(api, campaign):
    body = api.get(URL + "?start=2024-05-04&end=2024-05-04").json()
    assert body["sent"] == 1 and body["opens_by_source"]["apple_mpp"] == 1


def test_stats_carry_the_estimate_and_images_blocked(api, campaign):
    """Too few clicks here for an estimate: null and the reason; images blocked counted."""
    ada, _tim = campaign
    blocked = make_message(campaign="autumn", sent_at=T0, recipient="linus@example.com")
    make_click(blocked, source="human", at=T0 + timedelta(minutes=9))
    body = api.get(URL + "?campaign=autumn").json()
    assert body["opened_by_people_estimate"] is None
    assert body["opened_by_people_estimate_reason"].startswith("Not enough data")
    assert body["images_blocked"] == {"count": 1, "rate": round(1 / 3, 4), "of_person_clicks": 0.5}
    assert [row["cohort"] for row in body["cohorts"]] == ["hidden", "proxy", "direct", "none"]
    # Ada and Tim share an address, and Tim's mailbox is Apple's: Ada's message is hidden too.
    assert ada.recipient == _tim.recipient
    assert [row["sent"] for row in body["cohorts"]] == [2, 0, 0, 1]
    assert body["images_blocked_daily"][0] == {"date": "2024-05-01", "sent": 2, "count": 1,
                                               "rate": 0.5}


def test_stats_schema_describes_the_estimate(api):
    schema = api.get(API + "schema/?format=json").json()
    components = schema["components"]["schemas"]
    stats = components["Stats"]["properties"]
    assert {"opened_by_people_estimate", "opened_by_people_estimate_reason", "images_blocked",
            "images_blocked_daily", "cohorts"} <= set(stats)
    assert set(components["Estimate"]["properties"]) == {"value", "low", "high", "method", "level"}
    assert set(components["ImagesBlocked"]["properties"]) == {"count", "rate", "of_person_clicks"}
