import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from django_leadpixel.models import KINDS, Download, Open, Visit

from .helpers import T0, click, message, open_, sample_campaign

pytestmark = pytest.mark.django_db

LIST = reverse("admin:django_leadpixel_message_changelist")
REPORT = reverse("admin:django_leadpixel_message_report")


def change_url(msg):
    return reverse("admin:django_leadpixel_message_change", args=[msg.pk])


def listed(response) -> set[str]:
    return {m.recipient for m in response.context["cl"].result_list}


def test_message_list_columns(admin_client):
    sample_campaign()
    response = admin_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("ada@example.com", "Opened by a person", "Only machines", "Not opened",
                 "Opens via Google proxy", "Campaign report"):
        assert text in html
    cl = response.context["cl"]
    assert cl.show_full_result_count is False
    row = {m.recipient: m for m in cl.result_list}
    assert row["grace@example.com"].google_proxy_opens == 1
    assert row["ada@example.com"].clicks_total == 2


@pytest.mark.parametrize("query, expected", [
    ("status=person", {"ada@example.com", "grace@example.com", "linus@example.com",
                       "other@example.com"}),
    ("status=machine", {"tim@example.com"}),
    ("status=unopened", {"nobody@example.com"}),
    ("google_proxy=yes", {"grace@example.com"}),
    ("opened_via=apple_mpp", {"tim@example.com"}),
    ("opened_via=yahoo_proxy", {"other@example.com"}),
    ("campaign=autumn", {"other@example.com"}),
    ("q=linus", {"linus@example.com"}),
    ("q=Hello&status=person&campaign=spring",
     {"ada@example.com", "grace@example.com", "linus@example.com"}),
])
def test_message_list_filters_and_search(admin_client, query, expected):
    sample_campaign()
    response = admin_client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    assert listed(response) == expected


def test_google_proxy_filter_no(admin_client):
    sample_campaign()
    response = admin_client.get(f"{LIST}?google_proxy=no")
    assert "grace@example.com" not in listed(response) and len(listed(response)) == 5


def test_message_list_queries_do_not_grow_with_rows(admin_client, django_assert_max_num_queries):
    sample_campaign()
    admin_client.get(LIST)  # warm caches (content types, session)
    # A fixed handful, plus one EXISTS per day of the date hierarchy (at most 31).
    with django_assert_max_num_queries(25) as few:
        admin_client.get(LIST)
    for i in range(40):
        m = message(recipient=f"bulk{i}@example.com", sent_at=T0 + timedelta(minutes=i))
        open_(m, "google_proxy")
        click(m)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(LIST)
    assert len(response.context["cl"].result_list) == 46


def test_change_page_timeline_and_truth(admin_client):
    msgs = sample_campaign()
    html = admin_client.get(change_url(msgs["ada"])).content.decode()
    assert 'id="lp-timeline"' in html
    assert html.count('class="lp-open"') == 2 and html.count('class="lp-click"') == 2
    assert "London, GB" in html and "desktop / Windows / Chrome" in html
    assert "First open by a person" in html
    html = admin_client.get(change_url(msgs["grace"])).content.decode()
    assert "Google Image Proxy" in html and "masked by proxy (Google)" in html
    html = admin_client.get(change_url(msgs["tim"])).content.decode()
    assert "Apple Mail Privacy Protection" in html and "Security scanner" in html
    assert "Only machines" in html


def test_change_page_counts_downloads_and_visits(admin_client):
    msgs = sample_campaign()
    for source in ("human", "scanner", "bot"):
        Download.objects.create(message=msgs["ada"], source=source, occurred_at=msgs["ada"].sent_at)
    Visit.objects.create(message=msgs["ada"], source="human", path="/", occurred_at=msgs["ada"].sent_at)
    response = admin_client.get(change_url(msgs["ada"]))
    html = response.content.decode()
    for label, value in (("Clicks by people", 2), ("Downloads", 3), ("Downloads by people", 1),
                         ("Downloads by scanners and bots", 2), ("Visits", 1),
                         ("Visits by people", 1), ("Visits by scanners and bots", 0)):
        assert re.search(rf"<label[^>]*>{label}:</label>\s*<div class=\"readonly\">{value}</div>",
                         html), label


def test_add_page_still_works(admin_client):
    response = admin_client.get(reverse("admin:django_leadpixel_message_add"))
    assert response.status_code == 200
    assert 'id="lp-timeline"' not in response.content.decode()


def test_event_admins_are_read_only_and_list(admin_client):
    msgs = sample_campaign()
    for model in ("open", "click"):
        response = admin_client.get(reverse(f"admin:django_leadpixel_{model}_changelist"))
        assert response.status_code == 200
        assert response.context["cl"].date_hierarchy == "occurred_at"
        assert response.context["cl"].list_select_related == ("message",)
        assert admin_client.get(reverse(f"admin:django_leadpixel_{model}_add")).status_code == 403
    event = Open.objects.filter(message=msgs["ada"]).first()
    url = reverse("admin:django_leadpixel_open_change", args=[event.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"source": "bot"}).status_code == 403
    event.refresh_from_db()
    assert event.source == "human"


def test_event_list_filters(admin_client):
    sample_campaign()
    url = reverse("admin:django_leadpixel_click_changelist")
    assert len(admin_client.get(f"{url}?source__exact=scanner").context["cl"].result_list) == 1
    assert len(admin_client.get(f"{url}?device_type=mobile").context["cl"].result_list) == 1


def test_report_page(admin_client):
    sample_campaign()
    response = admin_client.get(REPORT, {"start": "", "end": ""})  # all time
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["report"]["sent"] == 6
    assert html.count('<svg class="lp-chart"') == 3
    assert "https://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org/2000/svg", "")  # charts reference nothing external
    for text in ("Share of opens per proxy", "Top countries", "GB", "Gmail",
                 "https://shop.example.com/a", "figures.csv", "events.csv"):
        assert text in html


def test_report_filters(admin_client):
    sample_campaign()
    response = admin_client.get(REPORT, {"campaign": "spring", "start": "2024-03-04",
                                         "end": "2024-03-04"})
    assert response.context["report"]["sent"] == 5
    assert response.context["report"]["filters"]["campaign"] == "spring"
    # Garbage input is ignored (all time), not a server error.
    response = admin_client.get(REPORT, {"campaign": "nope", "start": "yesterday"})
    assert response.status_code == 200 and response.context["report"]["sent"] == 6


def test_report_defaults_to_the_last_30_days(admin_client):
    sample_campaign()  # sent in 2024
    recent = message(recipient="recent@example.com", sent_at=timezone.now() - timedelta(days=3))
    open_(recent)
    old = message(recipient="old@example.com", sent_at=timezone.now() - timedelta(days=40))
    open_(old)
    response = admin_client.get(REPORT)
    report = response.context["report"]
    assert report["sent"] == 1 and report["opened_by_person"] == 1
    assert report["filters"]["start"] == (timezone.localdate() - timedelta(days=30)).isoformat()
    html = response.content.decode()
    assert f'value="{report["filters"]["start"]}"' in html  # shown in the form
    assert "figures.csv?start=" in html  # and carried to the CSV links
    all_time = admin_client.get(REPORT, {"start": "", "end": ""}).context["report"]
    assert all_time["sent"] == 8


def test_app_index_links_to_report(admin_client):
    html = admin_client.get(reverse("admin:app_list", args=["django_leadpixel"])).content.decode()
    assert REPORT in html


def test_report_needs_view_permission(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(REPORT).status_code == 403
    assert client.get(REPORT.rstrip("/") + "/figures.csv").status_code == 403
    client.logout()
    assert client.get(REPORT).status_code == 302  # to the login page


def staff_with(client, *codenames):
    """Log ``client`` in as a staff user holding these django_leadpixel permissions only."""
    user = get_user_model().objects.create_user("limited", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="django_leadpixel", codename__in=codenames))
    client.force_login(user)
    return client


FIGURES_CSV = reverse("admin:django_leadpixel_message_report_csv")
EVENTS_CSV = reverse("admin:django_leadpixel_message_events_csv")


def test_events_csv_needs_the_event_permissions(client):
    # Each event row carries the reader's place and device: who may only see messages
    # and the report's figures may not export them.
    sample_campaign()
    staff_with(client, "view_message")
    assert client.get(REPORT, {"start": ""}).status_code == 200
    assert client.get(FIGURES_CSV, {"start": ""}).status_code == 200
    assert client.get(EVENTS_CSV, {"start": ""}).status_code == 403


EVERY_KIND = tuple(f"view_{kind}" for kind in KINDS)


@pytest.mark.parametrize("codenames, events", [
    (("view_message", "view_open"), 403),
    (("view_message", "view_click"), 403),
    # Opens and clicks without downloads or visits: not every kind, so nothing.
    (("view_message", "view_open", "view_click"), 403),
    (("view_message", "view_open", "view_click", "view_download"), 403),
    (("view_message", *EVERY_KIND), 200),
    (("change_message", *(f"change_{kind}" for kind in KINDS)), 200),  # change implies view
])
def test_events_csv_needs_the_view_permission_of_every_kind(client, codenames, events):
    sample_campaign()
    staff_with(client, *codenames)
    assert client.get(EVENTS_CSV, {"start": ""}).status_code == events
    html = client.get(REPORT, {"start": ""}).content.decode()
    assert ("events.csv" in html) is (events == 200)


def test_report_and_its_csvs_need_view_message(client):
    sample_campaign()
    staff_with(client, "view_open", "view_click")
    for url in (REPORT, FIGURES_CSV, EVENTS_CSV):
        assert client.get(url, {"start": ""}).status_code == 403, url


def test_report_links_the_events_csv_only_for_who_may_export_it(client):
    sample_campaign()
    html = staff_with(client, "view_message").get(REPORT).content.decode()
    assert "figures.csv" in html and "events.csv" not in html


@pytest.mark.parametrize("codenames, shown", [
    (("view_message",), False),
    (("view_message", "view_open"), False),
    (("view_message", "view_open", "view_click"), False),
    (("view_message", "view_open", "view_click", "view_visit"), False),
    (("view_message", *EVERY_KIND), True),
])
def test_change_page_timeline_needs_the_event_permissions(client, codenames, shown):
    # The timeline lists every kind of event with place and device, as the events CSV.
    msgs = sample_campaign()
    response = staff_with(client, *codenames).get(change_url(msgs["ada"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "First open by a person" in html  # the message's own figures
    assert ("London, GB" in html) is shown and ('class="lp-open"' in html) is shown
    assert ('id="lp-timeline"' in html) is shown


def test_report_query_count_is_fixed(admin_client, django_assert_max_num_queries):
    sample_campaign()
    admin_client.get(REPORT)
    # 13 for the campaign figures (2 of them the cohorts, reports.rates), 1 for opens by
    # image, 9 for the downloads.
    with django_assert_max_num_queries(25) as few:
        admin_client.get(REPORT, {"start": ""})
    for i in range(30):
        m = message(recipient=f"r{i}@example.com", campaign=f"c{i % 4}")
        open_(m, country="DE")
        click(m, url=f"https://example.com/{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin_client.get(REPORT, {"start": ""})



def test_counts_are_capped_on_large_tables(admin_client, monkeypatch):
    from django_leadpixel.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    sample_campaign()
    response = admin_client.get(LIST)
    assert response.context["cl"].paginator.capped
    assert "more than 3 messages" in response.content.decode()
    response = admin_client.get(LIST, {"campaign": "autumn"})
    assert not response.context["cl"].paginator.capped
    assert "1 message" in response.content.decode()


def test_date_hierarchy_lists_only_periods_with_rows(admin_client):
    sample_campaign()  # 2024-03-04 and 2024-03-11
    message(recipient="later@example.com", sent_at=T0 + timedelta(days=70))  # May
    years = admin_client.get(LIST).context["cl"].queryset.datetimes("sent_at", "month")
    assert [(d.year, d.month) for d in years] == [(2024, 3), (2024, 5)]
    days = admin_client.get(LIST, {"sent_at__year": 2024, "sent_at__month": 3})
    html = days.content.decode()
    assert "sent_at__day=4" in html and "sent_at__day=11" in html
    assert "sent_at__day=5" not in html
