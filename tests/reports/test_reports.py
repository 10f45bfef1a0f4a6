import json
from datetime import date, timedelta

import pytest
from django.db.models import Count, Q

from django_leadpixel import reports
from django_leadpixel.classify import SOURCES
from django_leadpixel.models import Message, Status

from ..admin.helpers import T0, click, message, open_, sample_campaign

pytestmark = pytest.mark.django_db

KEYS = {"filters", "sent", "opened_by_person", "opened_any", "clicked_by_person", "clicked_any",
        "open_rate_people", "open_rate_all", "click_rate", "click_to_open", "opens_by_source",
        "clicks_by_source", "daily", "proxy_share", "top_countries", "top_devices",
        "top_mail_clients", "links", "opened_by_people_estimate",
        "opened_by_people_estimate_reason", "images_blocked", "images_blocked_reason",
        "images_blocked_daily", "images_blocked_by_campaign", "cohorts"}


def test_empty_database_gives_zeroes_not_errors():
    report = reports.campaign_report()
    assert set(report) == KEYS
    assert report["sent"] == 0
    assert report["open_rate_people"] == report["click_to_open"] == 0.0
    assert report["opens_by_source"] == {key: 0 for key, _ in SOURCES}
    assert report["daily"] == [] and report["links"] == []
    assert report["proxy_share"] == {"google_proxy": 0.0, "yahoo_proxy": 0.0, "apple_mpp": 0.0,
                                     "other_proxy": 0.0}
    json.dumps(report)


def test_campaign_figures():
    sample_campaign()
    report = reports.campaign_report(campaign="spring")
    assert report["filters"] == {"campaign": "spring", "start": None, "end": None}
    assert report["sent"] == 5
    assert report["opened_by_person"] == 3  # ada, grace (Google proxy), linus (click)
    assert report["opened_any"] == 4  # + tim (machines only)
    assert report["clicked_by_person"] == 2  # ada, linus
    assert report["clicked_any"] == 3  # + tim's scanner
    assert report["open_rate_people"] == 0.6
    assert report["open_rate_all"] == 0.8
    assert report["click_rate"] == 0.4
    assert report["click_to_open"] == 0.6667
    assert report["opens_by_source"]["human"] == 2
    assert report["opens_by_source"]["google_proxy"] == 1
    assert report["opens_by_source"]["apple_mpp"] == 1
    assert report["opens_by_source"]["yahoo_proxy"] == 0  # autumn is not selected
    assert report["clicks_by_source"] == {**{k: 0 for k, _ in SOURCES}, "human": 3,
                                          "scanner": 1}
    assert report["proxy_share"] == {"google_proxy": 0.25, "yahoo_proxy": 0.0,
                                     "apple_mpp": 0.25, "other_proxy": 0.0}
    json.dumps(report)


def test_daily_is_ascending_with_days_that_have_events_only():
    sample_campaign()
    daily = reports.campaign_report(campaign="spring")["daily"]
    assert [d["date"] for d in daily] == ["2024-03-04", "2024-03-05"]
    assert daily[0]["opens"]["human"] == 1 and daily[1]["opens"]["human"] == 1
    assert daily[0]["clicks"]["human"] == 3 and daily[0]["clicks"]["scanner"] == 1
    assert set(daily[0]["opens"]) == {key for key, _ in SOURCES}


def test_people_only_in_top_lists():
    sample_campaign()
    report = reports.campaign_report()
    # ada: 2 opens + 2 clicks in GB; linus: 1 click in FI. Machines never count.
    assert report["top_countries"] == [{"country": "GB", "events": 4},
                                       {"country": "FI", "events": 1}]
    assert report["top_devices"] == [{"device_type": "desktop", "os": "Windows", "events": 4},
                                     {"device_type": "mobile", "os": "Android", "events": 1}]
    assert report["top_mail_clients"] == [{"mail_client": "Gmail", "events": 1}]


def test_links_by_clicks():
    sample_campaign()
    links = reports.campaign_report()["links"]
    assert links == [
        {"url": "https://shop.example.com/a", "position": 1, "clicks": 3, "human_clicks": 3},
        {"url": "https://shop.example.com/b", "position": 2, "clicks": 1, "human_clicks": 0},
    ]


def test_date_range_is_inclusive_and_by_sending_day():
    sample_campaign()
    sent_day = T0.date()
    assert reports.campaign_report(start=sent_day, end=sent_day)["sent"] == 5
    assert reports.campaign_report(start=sent_day + timedelta(days=7))["sent"] == 1
    assert reports.campaign_report(end=sent_day - timedelta(days=1))["sent"] == 0
    report = reports.campaign_report(start=date(2024, 3, 11), end=date(2024, 3, 11))
    assert report["filters"] == {"campaign": None, "start": "2024-03-11", "end": "2024-03-11"}
    assert report["sent"] == 1 and report["opened_by_person"] == 1
    assert report["proxy_share"]["yahoo_proxy"] == 1.0
    # Events of the selected messages count, even if they happen after ``end``.
    assert report["opens_by_source"]["yahoo_proxy"] == 1


def test_unknown_campaign_is_empty():
    sample_campaign()
    assert reports.campaign_report(campaign="nope")["sent"] == 0


def test_message_figures_agree_with_the_model_status():
    """The report's set logic must stay the one ``MessageQuerySet.with_status`` defines."""
    sample_campaign()
    for campaign in (None, "spring", "autumn"):
        report = reports.campaign_report(campaign=campaign)
        messages = Message.objects.all() if campaign is None else Message.objects.filter(
            campaign=campaign)
        truth = messages.with_status().with_stats().aggregate(
            person=Count("pk", filter=Q(status=Status.PERSON)),
            unopened=Count("pk", filter=Q(status=Status.UNOPENED)),
            clicked_by_person=Count("pk", filter=Q(human_clicks__gt=0)),
            clicked_any=Count("pk", filter=Q(clicks_total__gt=0)),
        )
        assert report["opened_by_person"] == truth["person"]
        assert report["opened_any"] == report["sent"] - truth["unopened"]
        assert report["clicked_by_person"] == truth["clicked_by_person"]
        assert report["clicked_any"] == truth["clicked_any"]


def test_query_count_does_not_grow_with_rows(django_assert_max_num_queries):
    sample_campaign()
    # 9 aggregates (one for messages only downloaded from), the cohorts' flags and
    # recipients (``rates``), and one look for a report rollup (there is none here).
    with django_assert_max_num_queries(12):
        reports.campaign_report()
    for i in range(30):
        m = message(recipient=f"r{i}@example.com", sent_at=T0 + timedelta(days=i % 5))
        open_(m, country="DE")
        click(m, url=f"https://example.com/{i}", position=i)
    with django_assert_max_num_queries(12):
        reports.campaign_report(campaign="spring", start=T0.date())


def test_timeline_is_ordered_and_starts_with_sent():
    msgs = sample_campaign()
    entries = reports.timeline(msgs["ada"])
    assert [e["kind"] for e in entries] == ["sent", "open", "click", "click", "open"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_figures_rows_and_event_rows():
    sample_campaign()
    rows = list(reports.figures_rows(reports.campaign_report(campaign="spring")))
    assert ["summary", "sent", 5] in rows
    assert ["opens_by_source", "Google Image Proxy", 1] in rows
    events = list(reports.event_rows(campaign="spring"))
    assert events[0] == list(reports.EVENT_COLUMNS)
    assert len(events) == 1 + 4 + 4  # header, 4 opens, 4 clicks
    assert not any("user_agent" in c or c == "ip" for c in events[0])
