"""End to end in a real browser: Debian's chromium, headless, driven by Playwright.

The browser opens an HTML email rendered by the template tags (so it really
fetches the pixel from the live server), clicks a tracked link, logs into the
admin, finds the message opened by a person with the browser's device and OS,
opens the report page and saves screenshots under ``LEADPIXEL_ARTIFACTS``
(default ``artifacts/``).

No browser is downloaded: Playwright is pointed at the system binary
(``/usr/bin/chromium``, or ``LEADPIXEL_CHROMIUM``). Outside CI the test skips
with the reason when chromium or Playwright is missing; in CI (``CI=true``,
where ``.ci/run`` installs them) it fails instead, so it cannot silently stop
running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.template import engines

from django_leadpixel.models import Click, Document, Download, Message, Open
from django_leadpixel.reports import leads

from ..conftest import IN_CI, ROOT
from ..imagefiles import pdf, png

CHROMIUM = os.environ.get("LEADPIXEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
EMAIL = """{% load leadpixel %}<!doctype html><html><body>
<h1>Spring offer</h1>
{% track_links message %}<p><a id="offer" href="{{ landing }}">See the offer</a>
<a href="mailto:shop@example.com">Write to us</a></p>{% endtrack_links %}
{% lead_pixel message %}
</body></html>"""


def artifacts_dir() -> Path:
    path = Path(os.environ.get("LEADPIXEL_ARTIFACTS") or ROOT / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser test: .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture
def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "Playwright for Python is not installed (pip install playwright)")
    _need(os.path.exists(CHROMIUM), f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def test_open_click_admin_and_report_in_chromium(live_server, settings, monkeypatch,
                                                 sync_playwright, transactional_db):
    # Playwright's sync API runs an event loop in this thread; the ORM calls made
    # here between browser steps are plain synchronous ones, so allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.LEADPIXEL = {**settings.LEADPIXEL, "BASE_URL": live_server.url}
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-e2e-123")
    message = Message.objects.create(recipient="browser@example.com", subject="Spring offer",
                                     campaign="e2e")
    landing = f"{live_server.url}/admin/login/?landed=1"
    html = engines["django"].from_string(EMAIL).render({"message": message, "landing": landing})
    assert "/t/o/" in html and "/t/c/" in html and "mailto:shop@example.com" in html
    out = artifacts_dir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            # Headless Chromium says "HeadlessChrome" in its user agent, which the
            # classifier rightly calls a bot; a person's Chromium says "Chrome".
            probe = browser.new_page()
            agent = probe.evaluate("navigator.userAgent").replace("HeadlessChrome", "Chrome")
            probe.close()
            context = browser.new_context(user_agent=agent, viewport={"width": 1280,
                                                                      "height": 900})
            page = context.new_page()

            # 1. The email: the browser fetches the pixel, then the reader clicks.
            with page.expect_response(lambda r: "/t/o/" in r.url) as pixel:
                page.set_content(html, wait_until="load")
            assert pixel.value.status == 200
            assert pixel.value.headers["content-type"] == "image/gif"
            page.click("#offer")
            page.wait_for_url("**/admin/login/**landed=1**")

            # 2. The admin: log in, the message is listed as opened by a person.
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-e2e-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/")
            page.goto(f"{live_server.url}/admin/django_leadpixel/message/?status=person")
            row = page.locator("#result_list tbody tr", has_text="browser@example.com")
            assert row.count() == 1
            assert "Opened by a person" in row.inner_text()

            # 3. Its change page: the timeline shows a person on this browser's device and OS.
            row.locator("th a").click()
            timeline = page.locator("table.lp-timeline")
            timeline.wait_for()
            text = timeline.inner_text()
            assert "Person" in text
            assert "desktop / Linux" in text, text  # Debian's chromium on x86_64 Linux
            page.screenshot(path=str(out / "admin-message-timeline.png"), full_page=True)

            # 4. The report page, with its server-side charts.
            page.goto(f"{live_server.url}/admin/django_leadpixel/")
            page.click("text=Campaign report")
            page.wait_for_selector("svg.lp-chart")
            page.select_option("#id_campaign", "e2e")
            page.click("#lp-report-filters input[type=submit]")
            page.wait_for_url("**campaign=e2e**")
            summary = page.locator("#lp-summary").inner_text()
            assert "100.0" in summary  # 1 of 1 opened by a person, and clicked
            assert page.locator("svg.lp-chart").count() == 3
            page.screenshot(path=str(out / "admin-report.png"), full_page=True)
        finally:
            browser.close()

    opened = Open.objects.get(message=message)
    clicked = Click.objects.get(message=message)
    assert (opened.source, clicked.source) == ("human", "human")
    assert opened.device_type == "desktop" and opened.os == "Linux"
    assert clicked.url == landing
    assert (out / "admin-report.png").stat().st_size > 10_000


IMAGE_EMAIL = """{% load leadpixel %}<!doctype html><html><body>
<h1>Climate report</h1>
{% tracked_image message "img/climate-impact.png" alt="Chart of climate change impact" %}
<p><a id="report" href="{% tracked_download message document %}">The report (PDF)</a></p>
</body></html>"""


def test_tracked_image_download_and_their_admin_pages_in_chromium(
        live_server, settings, monkeypatch, sync_playwright, transactional_db, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    roots = tmp_path / "images"
    (roots / "img").mkdir(parents=True)
    (roots / "img" / "climate-impact.png").write_bytes(png(120, 60))
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.LEADPIXEL = {**settings.LEADPIXEL, "BASE_URL": live_server.url,
                          "IMAGE_ROOTS": [str(roots)]}
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-e2e-123")
    document = Document(title="Climate report 2026")
    document.file.save("climate-report.pdf", ContentFile(pdf("Climate report")), save=False)
    document.save()
    message = Message.objects.create(recipient="reader@example.com", subject="Climate",
                                     campaign="e2e-docs")
    html = engines["django"].from_string(IMAGE_EMAIL).render(
        {"message": message, "document": document})
    out = artifacts_dir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            probe = browser.new_page()
            agent = probe.evaluate("navigator.userAgent").replace("HeadlessChrome", "Chrome")
            probe.close()
            context = browser.new_context(user_agent=agent, accept_downloads=True,
                                          viewport={"width": 1280, "height": 900})
            page = context.new_page()

            # 1. The email: the browser loads the chart (shown at its own size), then
            #    the reader downloads the PDF.
            with page.expect_response(lambda r: "/t/i/" in r.url) as image:
                page.set_content(html, wait_until="load")
            assert image.value.status == 200
            assert image.value.headers["content-type"] == "image/png"
            assert page.evaluate("document.images[0].naturalWidth") == 120
            with page.expect_download() as download:
                page.click("#report")
            assert download.value.suggested_filename == "climate-report-2026.pdf"
            assert Path(download.value.path()).read_bytes() == pdf("Climate report")

            # 2. The admin: the message is opened by a person; its timeline names the image
            #    and the document.
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-e2e-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/")
            page.goto(f"{live_server.url}/admin/django_leadpixel/message/{message.pk}/change/")
            timeline = page.locator("table.lp-timeline")
            timeline.wait_for()
            text = timeline.inner_text()
            assert "img/climate-impact.png" in text and "Climate report 2026" in text, text
            assert "Opened by a person" in page.content()
            page.screenshot(path=str(out / "admin-image-and-download-timeline.png"), full_page=True)

            # 3. The documents list counts the download; the download list filters by document.
            page.goto(f"{live_server.url}/admin/django_leadpixel/document/")
            row = page.locator("#result_list tbody tr", has_text="Climate report 2026")
            assert row.locator("td.field-people_downloads").inner_text() == "1"
            page.goto(f"{live_server.url}/admin/django_leadpixel/download/")
            page.click("#changelist-filter >> text=Climate report 2026")
            page.wait_for_url("**document__public_id__exact=**")
            rows = page.locator("#result_list tbody tr")
            assert rows.count() == 1 and "Person" in rows.first.inner_text()
            page.screenshot(path=str(out / "admin-downloads.png"), full_page=True)

            # 4. The report: opens by image, and downloads.
            page.goto(f"{live_server.url}/admin/django_leadpixel/message/report/?campaign=e2e-docs")
            images = page.locator("#lp-images").inner_text()
            assert "img/climate-impact.png" in images
            assert "Climate report 2026" in page.locator("#lp-documents").inner_text()
        finally:
            browser.close()

    assert Open.objects.get(message=message).image == "img/climate-impact.png"
    assert Download.objects.get(message=message).source == "human"


LAPTOP = {"width": 1400, "height": 900}


def _laptop_data() -> Message:
    """Messages with long recipients, subjects and campaigns, and an event of every source."""
    from django_leadpixel.sources import VALUES

    from .helpers import click, message, open_

    for i in range(12):
        message(recipient=f"someone.with.a.rather.long.name.{i}@subsidiary.example-company.com",
                subject="Our autumn collection: forty new pieces, free returns and a gift inside",
                campaign="autumn-collection-2026-newsletter-segment-b")
    shown = message(recipient="charlotte.featherstonehaugh@example-company.com",
                    subject="Your personal offer for the autumn collection, valid until Sunday",
                    campaign="autumn-collection-2026-newsletter-segment-b")
    for minutes, source in enumerate(VALUES, start=1):
        if source == "human":
            open_(shown, source, minutes=minutes, city="Manchester", region="England",
                  country="GB", device_type="desktop", os="Windows", browser="Chrome")
        else:
            open_(shown, source, minutes=minutes, masked=source != "unknown",
                  operator="Google" if "google" in source else "")
    click(shown, "scanner", minutes=0.5, operator="Kaspersky", position=3,
          url="https://shop.example.com/autumn/collection/forty-new-pieces?utm_source=email")
    click(shown, minutes=30, city="Manchester", country="GB", device_type="mobile", os="iOS",
          mail_client="Apple Mail", position=1,
          url="https://shop.example.com/autumn/collection/forty-new-pieces?utm_source=email")
    report = Document.objects.create(title="Autumn collection 2026: the full lookbook with prices",
                                     url="https://cdn.example-company.com/lookbook-autumn-2026.pdf")
    Download.objects.create(message=shown, document_id=report.public_id, source="human",
                            ip="81.2.69.160", user_agent="Mozilla/5.0", city="Manchester",
                            country="GB", device_type="desktop", os="Windows", browser="Chrome",
                            enriched_at=shown.sent_at)
    return shown


def _inside(page, selector: str, within: str = "body") -> list[str]:
    """The elements (text and box) that are not wholly visible: outside the viewport, or
    scrolled out of ``within`` (the admin wraps its result table in a scrolling div)."""
    frame = page.locator(within).first.bounding_box()
    right = min(page.viewport_size["width"], frame["x"] + frame["width"])
    outside = []
    for element in page.locator(selector).all():
        box = element.bounding_box()
        if box is None or box["width"] < 1 or box["x"] < max(frame["x"], 0) - 0.5 \
                or box["x"] + box["width"] > right + 0.5:
            outside.append(f"{element.inner_text()!r} {box}")
    return outside


def test_admin_fits_a_laptop_at_1400_px(live_server, sync_playwright, transactional_db,
                                         monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-e2e-123")
    shown = _laptop_data()
    out = artifacts_dir()
    base = f"{live_server.url}/admin"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_context(viewport=LAPTOP).new_page()
            page.goto(f"{base}/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-e2e-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/")

            # The report is listed on the site index, readable (not squeezed), and in the
            # sidebar of every admin page.
            link = page.locator("#content-main a", has_text="Campaign report").first
            assert link.bounding_box()["width"] > 80
            page.goto(f"{base}/django_leadpixel/")
            link = page.locator("#content-main a", has_text="Campaign report").first
            assert link.bounding_box()["width"] > 80

            # The message list: every column header and cell inside 1,400 px (screenshots
            # first, so that a failure leaves the picture of what failed).
            page.goto(f"{base}/django_leadpixel/message/")
            page.screenshot(path=str(out / "admin-message-list-1400.png"), full_page=True)
            assert page.locator("#nav-sidebar a", has_text="Campaign report").count() == 1
            headers = page.locator("#result_list thead th").all_inner_texts()
            assert [h.strip().lower() for h in headers[-4:]] == ["google", "people", "machines",
                                                                 "clicks"]
            assert page.locator("#result_list thead th span[title='Opens by people']").count() == 1
            assert _inside(page, "#result_list thead th", ".results") == []
            assert _inside(page, "#result_list tbody tr:first-child > *", ".results") == []

            # The click list shows place and device.
            page.goto(f"{base}/django_leadpixel/click/")
            page.screenshot(path=str(out / "admin-click-list-1400.png"), full_page=True)
            texts = [h.strip().lower()
                     for h in page.locator("#result_list thead th").all_inner_texts()]
            assert "place / device" in texts
            assert _inside(page, "#result_list thead th", ".results") == []
            assert _inside(page, "#result_list tbody td", ".results") == []
            cells = page.locator("#result_list").inner_text()
            assert "scanner (Kaspersky)" in cells and "Manchester, GB" in cells
            assert "mobile / iOS / Apple" in cells

            # The timeline: a readable badge for every source, every column inside.
            page.goto(f"{base}/django_leadpixel/message/{shown.pk}/change/")
            timeline = page.locator("table.lp-timeline")
            timeline.wait_for()
            page.screenshot(path=str(out / "admin-timeline-1400.png"), full_page=True)
            assert _inside(page, "table.lp-timeline th") == []
            badges = page.locator("table.lp-timeline .lp-src")
            # Every open, the two clicks and the download.
            assert badges.count() == len(Message.objects.get(pk=shown.pk).opens.all()) + 3
            for badge in badges.all():
                colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
                assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), badge.inner_text()
            assert "scanner (Kaspersky)" in timeline.inner_text()

            # The report: charts with gridlines and their values.
            page.goto(f"{base}/django_leadpixel/message/report/?start=&end=")
            page.wait_for_selector("svg.lp-chart")
            page.screenshot(path=str(out / "admin-report-1400.png"), full_page=True)
            ticks = page.locator("svg.lp-chart").first.locator("text.lp-tick").all_text_contents()
            assert len(ticks) >= 3 and ticks[0] == "0"
            assert _inside(page, "#lp-summary .lp-card") == []

            # The download list and the lead list (one count column per event kind).
            leads.refresh()  # PostgreSQL: the lead list is a materialized view
            for name, path, expected in (
                    ("download-list", "download/", "Autumn collection 2026"),
                    ("lead-list", "lead/", "charlotte.featherstonehaugh@example-company.com")):
                page.goto(f"{base}/django_leadpixel/{path}")
                page.screenshot(path=str(out / f"admin-{name}-1400.png"), full_page=True)
                assert expected in page.locator("#result_list").inner_text(), name
                assert _inside(page, "#result_list thead th", ".results") == [], name
                assert _inside(page, "#result_list tbody tr:first-child > *", ".results") == [], name
        finally:
            browser.close()
    for name in ("message-list", "click-list", "timeline", "report", "download-list", "lead-list"):
        assert (out / f"admin-{name}-1400.png").stat().st_size > 10_000
