"""Visits on the sender's own site: the tagged click, VisitMiddleware, the beacon,
consent and GPC, scanner visits, erase and retention."""

from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from django_leadpixel import jobs, tokens
from django_leadpixel.classify import Verdict
from django_leadpixel.ingest import spool
from django_leadpixel.ingest.bulk import store_many
from django_leadpixel.ingest.hits import Hit, from_line, to_line
from django_leadpixel.models import Click, Message, Visit
from django_leadpixel.signals import visit_recorded

from .conftest import CHROME, make_message

pytestmark = pytest.mark.django_db

VISITS = "django_leadpixel.middleware.VisitMiddleware"
MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != VISITS] + [VISITS]
LEADPIXEL = {"BASE_URL": "https://mail.example.com", "VISIT_HOSTS": ["shop.example.com", ".example.org"]}
SHOP = override_settings(ROOT_URLCONF="tests.urls_shop", MIDDLEWARE=MIDDLEWARE, LEADPIXEL=LEADPIXEL)
PERSON = {"HTTP_USER_AGENT": CHROME, "REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture(autouse=True)
def shop():
    cache.clear()
    with SHOP:
        yield
    cache.clear()


def click_path(message, url="https://shop.example.com/shop/?utm=mail", **kw):
    return "/t/c/" + tokens.make_click_token(message.public_id, url, 1,
                                             consent=message.tracking_consent, **kw)


def follow_click(client, message, url="https://shop.example.com/shop/?utm=mail", **extra):
    """Click, then land on the shop with the tagged address (the browser's next request)."""
    response = client.get(click_path(message, url), **PERSON, **extra)
    assert response.status_code == 302
    return response["Location"]


def land(client, location, **extra):
    parts = urlsplit(location)
    return client.get(parts.path, parse_qs(parts.query), secure=parts.scheme == "https",
                      **PERSON, **extra)


# --- the click -------------------------------------------------------------------


def test_a_click_to_a_visit_host_carries_the_signed_visitor(client, message):
    location = follow_click(client, message)
    click = Click.objects.get()
    assert click.url == "https://shop.example.com/shop/?utm=mail"  # stored as signed
    query = parse_qs(urlsplit(location).query)
    assert query["utm"] == ["mail"]
    assert tokens.read_visitor(query["lp"][0]) == tokens.Visitor(message.public_id, click.pk)
    assert message.recipient not in location


@pytest.mark.parametrize("url", ["https://elsewhere.example.net/p", "https://shop.example.com.evil.net/"])
def test_other_hosts_are_never_changed(client, message, url):
    assert follow_click(client, message, url) == url


def test_a_wildcard_host_is_tagged(client, message):
    assert "lp=" in follow_click(client, message, "https://www.example.org/a")


def test_no_visitor_without_consent_or_with_gpc(client):
    refused = make_message(tracking_consent=False)
    assert follow_click(client, refused) == "https://shop.example.com/shop/?utm=mail"
    message = make_message()
    assert "lp=" not in follow_click(client, message, HTTP_SEC_GPC="1")
    with override_settings(LEADPIXEL={**LEADPIXEL, "VISIT_RESPECT_GPC": False}):
        assert "lp=" in follow_click(client, message, HTTP_SEC_GPC="1")


def test_no_visit_hosts_no_tag(client, message):
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com"}):
        assert follow_click(client, message) == "https://shop.example.com/shop/?utm=mail"


# --- the middleware ----------------------------------------------------------------


def test_landing_sets_the_cookie_and_strips_the_parameter(client, message):
    response = land(client, follow_click(client, message))
    assert response.status_code == 302 and response["Location"] == "/shop/?utm=mail"
    cookie = response.cookies["leadpixel_visitor"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 90 * 24 * 3600
    assert Visit.objects.count() == 0  # the landing page after the redirect is the visit
    page = client.get("/shop/?utm=mail", secure=True, HTTP_REFERER="https://mail.google.com/", **PERSON)
    assert page.status_code == 200
    visit = Visit.objects.get()
    assert (visit.message_id, visit.click_id) == (message.pk, Click.objects.get().pk)
    assert (visit.path, visit.referrer_host, visit.source) == ("/shop/", "mail.google.com", "human")
    assert visit.ip == "198.51.100.7" and visit.user_agent == CHROME
    assert jobs.sweep() == 2  # the click and the visit (dispatched after commit elsewhere)
    visit.refresh_from_db()
    assert visit.enriched_at is not None and visit.device_type == "desktop" and not visit.masked


def test_cookie_on_plain_http_is_not_secure_and_its_lifetime_is_a_setting(client, message):
    with override_settings(LEADPIXEL={**LEADPIXEL, "VISIT_COOKIE_AGE": 3600, "VISIT_STRIP_PARAM": False}):
        location = follow_click(client, message).replace("https://", "http://")
        response = land(client, location)
    assert response.status_code == 200  # no stripping redirect: the page itself
    cookie = response.cookies["leadpixel_visitor"]
    assert not cookie["secure"] and int(cookie["max-age"]) == 3600
    assert Visit.objects.get().path == "/shop/"


def visitor_client(client, message):
    land(client, follow_click(client, message))
    return client


def test_page_views_only(client, message):
    visitor_client(client, message)
    client.get("/shop/a/", **PERSON)
    client.get("/api/prices.json", **PERSON)  # not HTML
    client.get("/missing/", **PERSON)  # 404
    client.post("/shop/b/", **PERSON)  # not GET
    client.head("/shop/c/", **PERSON)
    assert list(Visit.objects.values_list("path", flat=True)) == ["/shop/a/"]


def test_skipped_paths(client, message):
    visitor_client(client, message)
    with override_settings(LEADPIXEL={**LEADPIXEL, "VISIT_EXCLUDE": ["/private/"]}):
        for path in ("/static/site.css", "/admin/login/", "/private/page/", "/t/v/"):
            client.get(path, **PERSON)
        client.get("/shop/ok/", **PERSON)
    assert list(Visit.objects.values_list("path", flat=True)) == ["/shop/ok/"]


def test_a_repeated_view_within_a_minute_counts_once(client, message):
    visitor_client(client, message)
    for _ in range(3):
        client.get("/shop/a/", **PERSON)
    client.get("/shop/b/", **PERSON)
    assert Counter(Visit.objects.values_list("path", flat=True)) == {"/shop/a/": 1, "/shop/b/": 1}
    cache.clear()  # the minute is over
    client.get("/shop/a/", HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.8")
    assert Visit.objects.filter(path="/shop/a/").count() == 2


def test_no_cookie_no_visit_and_a_forged_parameter_is_ignored(client, message):
    client.get("/shop/", **PERSON)
    value = tokens.make_visitor(message.public_id, message.public_id)
    forged = value[:-2] + ("a" if value[-2] != "a" else "b") + value[-1]
    response = client.get("/shop/", {"lp": forged}, **PERSON)
    assert response.status_code == 200 and "leadpixel_visitor" not in response.cookies
    client.cookies["leadpixel_visitor"] = value  # not signed as a cookie
    client.get("/shop/x/", **PERSON)
    assert Visit.objects.count() == 0


def test_gpc_stops_the_cookie_and_the_visits(client, message):
    location = follow_click(client, message)
    response = land(client, location, HTTP_SEC_GPC="1")
    assert response.status_code == 200 and "leadpixel_visitor" not in response.cookies
    visitor_client(client, message)
    client.get("/shop/a/", HTTP_SEC_GPC="1", **PERSON)
    assert Visit.objects.count() == 0


def test_no_visit_once_consent_is_withdrawn(client, message):
    visitor_client(client, message)
    Message.objects.filter(pk=message.pk).update(tracking_consent=False)
    response = client.get("/shop/a/", **PERSON)
    assert response.status_code == 200 and Visit.objects.count() == 0


def test_the_page_survives_a_broken_database_and_the_visit_is_spooled(client, message, monkeypatch, tmp_path):
    visitor_client(client, message)
    lines = []
    monkeypatch.setattr(spool, "spool", lambda hit, verdict: lines.append(to_line(hit, verdict)))

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("django_leadpixel.ingest.direct.DirectBackend.store", broken)
    monkeypatch.setattr("django_leadpixel.ingest.record.spool", lambda hit, verdict: lines.append(
        to_line(hit, verdict)))
    response = client.get("/shop/a/", **PERSON)
    assert response.status_code == 200 and Visit.objects.count() == 0
    assert lines and lines[0]["kind"] == "visit" and lines[0]["path"] == "/shop/a/"
    monkeypatch.undo()
    import json

    assert store_many([from_line(json.dumps(line)) for line in lines])["stored"] == 1
    assert Visit.objects.get().click_id == Click.objects.get().pk


def test_the_signal(client, message):
    received = []
    visit_recorded.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="v1")
    try:
        visitor_client(client, message)
        client.get("/shop/a/", **PERSON)
    finally:
        visit_recorded.disconnect(dispatch_uid="v1")
    assert [kw["event"].path for kw in received] == ["/shop/a/"]
    assert received[0]["sender"] is Visit and received[0]["request"].path == "/shop/a/"


# --- the beacon ----------------------------------------------------------------------


def test_the_beacon_records_a_page_view_get_and_post(client, message):
    follow_click(client, message)
    value = tokens.make_visitor(message.public_id, Click.objects.get().pk)
    response = client.get("/t/v/", {"lp": value, "url": "https://www.example.org/pricing?x=1",
                                    "ref": "https://news.example.net/a"}, **PERSON)
    assert response.status_code == 204
    response = client.post("/t/v/", f"lp={value}&url=/about/", content_type="text/plain", **PERSON)
    assert response.status_code == 204
    response = client.post("/t/v/", {"lp": value, "url": "/contact/"}, **PERSON)
    assert response.status_code == 204
    rows = {v.path: v for v in Visit.objects.all()}
    assert set(rows) == {"/pricing", "/about/", "/contact/"}
    assert rows["/pricing"].referrer_host == "news.example.net"


def test_the_beacon_refuses_bad_input_and_honours_gpc(client, message):
    value = tokens.make_visitor(message.public_id, message.public_id)
    assert client.get("/t/v/", **PERSON).status_code == 400
    assert client.get("/t/v/", {"lp": value[:-1]}, **PERSON).status_code == 400
    assert client.get("/t/v/", {"lp": value, "url": "https://evil.example.net/"}).status_code == 400
    assert client.get("/t/v/", {"lp": value, "url": "http://[bad"}).status_code == 400
    assert client.put("/t/v/", {"lp": value}).status_code == 405
    assert client.get("/t/v/", {"lp": value, "url": "/p"}, HTTP_SEC_GPC="1", **PERSON).status_code == 204
    assert Visit.objects.count() == 0


# --- scanners --------------------------------------------------------------------------


def test_a_visit_after_a_scanner_click_is_a_scanner_visit(client, message):
    scanner = {"HTTP_USER_AGENT": "python-requests/2.31", "REMOTE_ADDR": "203.0.113.9"}
    response = client.get(click_path(message), **scanner)
    click = Click.objects.get()
    assert click.source in ("scanner", "bot")
    parts = urlsplit(response["Location"])
    client.get(parts.path, parse_qs(parts.query), secure=True, HTTP_USER_AGENT=CHROME,
               REMOTE_ADDR="203.0.113.9")
    client.get("/shop/", secure=True, HTTP_USER_AGENT=CHROME, REMOTE_ADDR="203.0.113.9")
    assert Visit.objects.get().source == "human"  # what its own request shows
    jobs.sweep()
    visit = Visit.objects.get()
    assert visit.source == "scanner" and "click" in visit.reason
    assert visit.masked and visit.city == "" and visit.device_type == ""


def test_visits_follow_a_click_convicted_later(client, message):
    visitor_client(client, message)
    client.get("/shop/a/", **PERSON)
    jobs.sweep()
    visit = Visit.objects.get()
    assert visit.source == "human"
    # Two more links of the message within the second: the first click was a burst.
    start = Click.objects.get().occurred_at
    for n in (2, 3):
        Click.objects.create(message=message, url=f"https://shop.example.com/{n}", position=n,
                             occurred_at=start + timedelta(milliseconds=100 * n), source="human",
                             ip="198.51.100.7", user_agent=CHROME)
    jobs.enrich_batches(lambda model: model.objects.filter(message=message))
    visit.refresh_from_db()
    assert visit.source == "scanner"
    assert jobs.reclassify()["seen"] == 4  # three clicks and the visit, judged again alike
    visit.refresh_from_db()
    assert visit.source == "scanner"


def test_bulk_store_settles_a_visit_with_its_batch_click(message):
    click = Hit(kind="click", message_id=message.public_id, url="https://shop.example.com/",
                user_agent="python-requests/2.31")
    visit = Hit(kind="visit", message_id=message.public_id, path="/", click_id=click.id,
                user_agent=CHROME, ip="198.51.100.7")
    counts = store_many([(click, Verdict("bot", "HTTP library")), (visit, Verdict("human", ""))])
    assert counts["stored"] == 2
    assert Visit.objects.get().source == "scanner"
    refused = make_message(tracking_consent=False)
    counts = store_many([(Hit(kind="visit", message_id=refused.public_id, path="/"), Verdict("human", ""))])
    assert counts["no_consent"] == 1 and Visit.objects.count() == 1


# --- erase and retention -----------------------------------------------------------------


def test_erase_and_retention_cover_visits(client):
    old = make_message(recipient="Old@Example.com", sent_at=timezone.now() - timedelta(days=400))
    kept = make_message(recipient="kept@example.com")
    for message in (old, kept):
        Visit.objects.create(message=message, path="/", ip="198.51.100.7")
    totals: Counter[str] = Counter()
    assert jobs.purge(365, totals=totals) == 1
    assert totals["visits"] == 1 and list(Visit.objects.values_list("message", flat=True)) == [kept.pk]
    totals.clear()
    jobs.erase_recipient("KEPT@example.com", totals=totals)
    assert totals["visits"] == 1 and not Visit.objects.exists()


def test_anonymize_ip_covers_visits(client, message):
    with override_settings(LEADPIXEL={**LEADPIXEL, "ANONYMIZE_IP": True}):
        visitor_client(client, message)
        client.get("/shop/a/", **PERSON)
    assert Visit.objects.get().ip == "198.51.100.0"


def test_the_message_timeline_shows_visits(admin_client, message):
    Visit.objects.create(message=message, path="/shop/pricing/", referrer_host="mail.google.com",
                         source="human", occurred_at=message.sent_at + timedelta(minutes=3))
    page = admin_client.get(f"/admin/django_leadpixel/message/{message.pk}/change/").content.decode()
    assert "/shop/pricing/" in page and "mail.google.com" in page
