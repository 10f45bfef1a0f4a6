"""End to end in a real browser: a click into the sender's own site, then the lead pages.

The reader's Chromium clicks a tracked link to a shop page behind
``VisitMiddleware``, lands, views a second page; the sender then finds the
visits on the lead list and the lead page. Skips (or fails in CI) as
test_browser.py does when chromium or Playwright is missing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_leadpixel.models import Click, Message, Visit
from django_leadpixel.reports import leads

from .test_browser import CHROMIUM, LAUNCH_ARGS, artifacts_dir, sync_playwright  # noqa: F401


@pytest.mark.urls("tests.urls_shop")
def test_a_click_into_the_shop_and_the_lead_pages_in_chromium(live_server, settings, monkeypatch,
                                                              sync_playwright, transactional_db):  # noqa: F811
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.LEADPIXEL = {**settings.LEADPIXEL, "BASE_URL": live_server.url,
                          "VISIT_HOSTS": ["localhost"]}
    # tests/settings.py has VisitMiddleware (the live server's handler is made once).
    assert "django_leadpixel.middleware.VisitMiddleware" in settings.MIDDLEWARE
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-e2e-123")
    message = Message.objects.create(recipient="Shopper@Example.com", subject="Boots are back",
                                     campaign="e2e-shop")
    link = message.tracked_url(f"{live_server.url}/shop/boots/?utm_source=mail")
    out = artifacts_dir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            probe = browser.new_page()
            agent = probe.evaluate("navigator.userAgent").replace("HeadlessChrome", "Chrome")
            probe.close()
            reader = browser.new_context(user_agent=agent)
            page = reader.new_page()
            # 1. The click: tagged for this host, landed, the parameter gone from the address.
            page.goto(link)  # follows the redirects
            assert page.url == f"{live_server.url}/shop/boots/?utm_source=mail", page.url
            cookies = {c["name"]: c for c in reader.cookies()}
            assert cookies["leadpixel_visitor"]["httpOnly"] is True
            assert cookies["leadpixel_visitor"]["sameSite"] == "Lax"
            page.goto(f"{live_server.url}/shop/checkout/")
            page.goto(f"{live_server.url}/static/site.css")  # not a page view
            reader.close()

            leads.refresh()  # PostgreSQL: the list is a materialized view (a beat task's job)
            # 2. The sender: the lead list, sorted by score, then the lead page.
            sender = browser.new_context(viewport={"width": 1280, "height": 900})
            page = sender.new_page()
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-e2e-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/")
            page.goto(f"{live_server.url}/admin/django_leadpixel/message/")
            page.locator("#result_list tbody tr", has_text="Shopper@Example.com") \
                .locator("td.field-status_and_lead a").click()
            page.wait_for_selector("#lp-lead-figures")
            assert page.locator("#lp-visits").inner_text() == "2"
            assert page.locator("#lp-clicks").inner_text() == "1"
            timeline = page.locator("table.lp-timeline").inner_text()
            assert "/shop/checkout/" in timeline and "/shop/boots/" in timeline
            assert "/static/" not in timeline
            assert "Linux" in page.locator("#lp-devices").inner_text()
            page.screenshot(path=str(out / "admin-lead-page.png"), full_page=True)
            page.goto(f"{live_server.url}/admin/django_leadpixel/lead/?q=shopper")
            row = page.locator("#result_list tbody tr", has_text="shopper@example.com")
            assert row.count() == 1 and row.locator("td.field-visits").inner_text() == "2"
            page.screenshot(path=str(out / "admin-lead-list.png"), full_page=True)
        finally:
            browser.close()

    visits = list(Visit.objects.order_by("occurred_at"))
    assert [v.path for v in visits] == ["/shop/boots/", "/shop/checkout/"]
    assert {v.click_id for v in visits} == {Click.objects.get().pk}
    assert all(v.source == "human" and v.os == "Linux" for v in visits)
