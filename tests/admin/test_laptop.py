"""What the admin shows a person at a laptop's width: readable badges in the report's
colours, scanners called scanners, one time format in the current time zone, report
axes with gridlines, and the report listed with the app's models."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_leadpixel import admin as lp_admin
from django_leadpixel.reports import charts
from django_leadpixel.sources import VALUES

from .helpers import T0, click, message, open_, sample_campaign

REPORT = reverse("admin:django_leadpixel_message_report")
WCAG_AA = 4.5


@pytest.mark.parametrize("source", VALUES)
def test_every_source_has_a_badge_passing_wcag_aa(source):
    style = dict(part.split(":", 1) for part in charts.badge_style(source).split(";"))
    assert style["background"] == charts.COLOURS[source]  # the charts' colour
    assert charts.contrast_ratio(style["background"], style["color"]) >= WCAG_AA


def test_contrast_ratio_matches_wcag_reference_values():
    assert charts.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert charts.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert charts.contrast_ratio("#0072B2", "#ffffff") == pytest.approx(5.19, abs=0.01)
    # The old timeline's white text on the scanner's orange failed AA.
    assert charts.contrast_ratio("#D55E00", "#ffffff") < WCAG_AA


@pytest.mark.parametrize("peak, ticks", [(0, [0, 1]), (1, [0, 1]), (3, [0, 1, 2, 3]),
                                         (7, [0, 2, 4, 6, 8]), (37, [0, 10, 20, 30, 40]),
                                         (100, [0, 20, 40, 60, 80, 100]),
                                         (1234, [0, 500, 1000, 1500])])
def test_nice_ticks(peak, ticks):
    assert charts.nice_ticks(peak) == ticks


def test_chart_draws_a_labelled_gridline_per_tick():
    days = [{"date": "2026-11-30", "opens": {"human": 37}}, {"date": "2026-12-01", "opens": {}}]
    svg = str(charts.stacked_bars(days, "opens", title="Opens"))
    labels = re.findall(r'<text class="lp-tick"[^>]*>([^<]+)</text>', svg)
    assert labels == ["0", "10", "20", "30", "40"]
    assert svg.count('class="lp-grid"') == 5


def test_timeline_badges_place_and_time(admin_client):
    shown = message(recipient="reader@example.com")
    click(shown, "scanner", minutes=0.5, operator="Kaspersky")
    open_(shown, "google_proxy", operator="Google")
    open_(shown, "human", minutes=9, enriched_at=None)
    with override_settings(TIME_ZONE="Europe/Berlin"):
        html = admin_client.get(reverse("admin:django_leadpixel_message_change",
                                        args=[shown.pk])).content.decode()
    assert "scanner (Kaspersky)" in html and "masked by proxy (Kaspersky)" not in html
    assert "masked by proxy (Google)" in html
    assert "not enriched yet" in html
    for source in ("scanner", "google_proxy", "human"):
        assert f'style="{charts.badge_style(source)}"' in html
    # T0 is 09:00 UTC, 10:00 in Berlin: the sent row and the first-open field agree.
    berlin = (T0 + timedelta(minutes=5)).astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert "2024-03-04 10:00:00" in html
    assert berlin.strftime("%Y-%m-%d %H:%M:%S") in html
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+", html)  # no raw datetimes
    assert "a.m." not in html and "p.m." not in html


def test_lists_use_the_one_time_format(admin_client):
    sample_campaign()
    with override_settings(TIME_ZONE="America/New_York"):
        for name in ("message", "open", "click"):
            html = admin_client.get(reverse(f"admin:django_leadpixel_{name}_changelist")
                                    ).content.decode()
            assert "a.m." not in html and "p.m." not in html, name
            assert re.search(r"2024-03-04 0[34]:\d\d:\d\d", html), name  # 09:00 UTC in New York


def test_when_is_in_the_current_time_zone():
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        assert lp_admin.when(T0) == "2024-03-04 18:00:00"
    assert lp_admin.when(None) == "–"


def test_short_headers_keep_the_full_name_on_hover(admin_client):
    sample_campaign()
    html = admin_client.get(reverse("admin:django_leadpixel_message_changelist")).content.decode()
    for short, full in (("Google", "Opens via Google proxy"), ("People", "Opens by people"),
                        ("Machines", "Machine opens")):
        assert f'<span title="{full}">{short}</span>' in html


@pytest.mark.parametrize("page", ["admin:index", "admin:django_leadpixel_message_changelist"])
def test_report_listed_on_the_index_and_in_the_sidebar(admin_client, page):
    html = admin_client.get(reverse(page)).content.decode()
    assert re.search(rf'<a href="{REPORT}"[^>]*>Campaign report</a>', html)


def test_app_index_lists_the_report_once(admin_client):
    html = admin_client.get(reverse("admin:app_list", args=["django_leadpixel"])).content.decode()
    content = html[html.index('id="content-main"'):]
    assert content.count(f'href="{REPORT}"') >= 1
    assert "model-campaignreport" in html


def test_report_not_listed_without_permission(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert REPORT not in client.get(reverse("admin:index")).content.decode()
