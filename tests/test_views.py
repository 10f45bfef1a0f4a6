import pytest
from django.test import override_settings

from django_leadpixel import tokens
from django_leadpixel.models import Click, Message, Open
from django_leadpixel.signals import click_recorded, open_recorded
from django_leadpixel.views import PIXEL_GIF

from .conftest import CHROME, GMAIL_PROXY, make_message

pytestmark = pytest.mark.django_db


def pixel_path(message):
    return "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"


def click_path(message, url="https://shop.example.com/offer", position=1, **kw):
    return "/t/c/" + tokens.make_click_token(message.public_id, url, position, **kw)


def assert_gif(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content == PIXEL_GIF and len(PIXEL_GIF) == 43
    assert response["Cache-Control"] == "no-cache, no-store, must-revalidate, private, max-age=0"
    assert response["Pragma"] == "no-cache"
    assert response["Expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_pixel_records_an_open_and_answers_the_gif(client, message):
    received = []
    open_recorded.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        response = client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.7")
    finally:
        open_recorded.disconnect(dispatch_uid="t1")
    assert_gif(response)
    event = Open.objects.get()
    assert event.message == message
    assert (event.ip, event.user_agent, event.source, event.method) == (
        "198.51.100.7", CHROME, "human", "GET")
    assert received and received[0]["event"] == event and received[0]["request"] is not None
    sent = received[0]["event"]  # built for the receivers from what was stored
    assert (sent.message_id, sent.ip, sent.user_agent, sent.source, sent.anonymous) == (
        message.pk, "198.51.100.7", CHROME, "human", False)
    assert not sent._state.adding


def test_a_receiver_gets_the_event_as_stored_without_consent(client):
    message = make_message(tracking_consent=False)
    received = []
    open_recorded.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t3")
    try:
        client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.7")
    finally:
        open_recorded.disconnect(dispatch_uid="t3")
    stored, sent = Open.objects.get(), received[0]["event"]
    for name in ("ip", "user_agent", "anonymous", "reason", "message_id"):
        assert getattr(sent, name) == getattr(stored, name), name
    assert (sent.ip, sent.user_agent, sent.anonymous) == (None, "", True)


def test_gmail_proxy_open_is_classified(client, message):
    client.get(pixel_path(message), HTTP_USER_AGENT=GMAIL_PROXY, REMOTE_ADDR="66.249.84.12")
    event = Open.objects.get()
    assert event.source == "google_proxy"
    assert "Google" in event.reason or "ggpht" in event.reason


def test_lowercased_and_uppercased_urls_still_work(client, message):
    path = pixel_path(message)
    client.get(path.upper().replace("/T/O/", "/t/o/").replace(".GIF", ".gif"))
    cpath = click_path(message)
    response = client.get("/t/c/" + cpath.rsplit("/", 1)[1].upper())
    assert response.status_code == 302
    assert Open.objects.count() == 1 and Click.objects.count() == 1


@pytest.mark.parametrize("token", ["", "garbage", "!!!", "a" * 5000, "%00", "é"])
def test_bad_pixel_tokens_get_the_gif_and_record_nothing(client, message, token):
    assert_gif(client.get(f"/t/o/{token}.gif"))
    assert Open.objects.count() == 0


def test_tampered_truncated_and_foreign_tokens(client, message):
    good = tokens.make_open_token(message.public_id)
    click = click_path(message).rsplit("/", 1)[1]
    for bad in (good[:-1] + ("a" if good[-1] != "a" else "b"), good[:20], click):
        assert_gif(client.get(f"/t/o/{bad}.gif"))
    for bad in (click[:-1] + ("a" if click[-1] != "a" else "b"), click[:30], good, "zz"):
        response = client.get(f"/t/c/{bad}")
        assert response.status_code == 404
        assert "Location" not in response
    assert Open.objects.count() == 0 and Click.objects.count() == 0


def test_click_records_and_redirects(client, message):
    received = []
    click_recorded.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t2")
    try:
        response = client.get(click_path(message, position=2), HTTP_USER_AGENT=CHROME,
                              REMOTE_ADDR="203.0.113.9")
    finally:
        click_recorded.disconnect(dispatch_uid="t2")
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/offer"
    event = Click.objects.get()
    assert (event.url, event.position, event.source, event.ip) == (
        "https://shop.example.com/offer", 2, "human", "203.0.113.9")
    assert received[0]["event"] == event
    sent = received[0]["event"]
    assert (sent.url, sent.position, sent.ip, sent.message_id) == (
        "https://shop.example.com/offer", 2, "203.0.113.9", message.pk)


def test_click_redirects_after_the_message_is_purged(client, message):
    path = click_path(message)
    message.delete()
    response = client.get(path, HTTP_USER_AGENT=CHROME)
    assert response.status_code == 302 and response["Location"] == "https://shop.example.com/offer"
    assert Click.objects.count() == 0


def test_head_is_answered_but_not_a_human_click(client, message):
    response = client.head(click_path(message), HTTP_USER_AGENT=CHROME)
    assert response.status_code == 302
    assert not Click.objects.filter(source="human").exists()
    response = client.head(pixel_path(message), HTTP_USER_AGENT=CHROME)
    assert response.status_code == 200
    assert not Open.objects.filter(source="human").exists()


@pytest.mark.parametrize("method", ["post", "put", "delete", "options"])
def test_other_methods_get_405(client, message, method):
    assert getattr(client, method)(pixel_path(message)).status_code == 405
    assert getattr(client, method)(click_path(message)).status_code == 405
    assert Open.objects.count() == 0 and Click.objects.count() == 0


def test_user_agent_is_bounded(client, message):
    client.get(pixel_path(message), HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 9000)
    assert len(Open.objects.get().user_agent) == 512


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ANONYMIZE_IP": True})
def test_anonymize_ip_truncates_before_storage(client, message):
    client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.77")
    client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="2001:db8:1234:5678:9abc::1")
    assert sorted(Open.objects.values_list("ip", flat=True)) == ["198.51.100.0", "2001:db8:1234::"]


def test_no_consent_stores_an_anonymous_event(client):
    message = make_message(tracking_consent=False)
    assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=GMAIL_PROXY, REMOTE_ADDR="66.249.84.1"))
    client.get(click_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.1")
    for event in (Open.objects.get(), Click.objects.get()):
        assert event.anonymous and event.ip is None and event.user_agent == ""
    assert Open.objects.get().source == "google_proxy"


def test_spoofed_forwarded_for_is_ignored_with_a_trusted_proxy_count(client, message):
    # One reverse proxy that appends the peer it saw: only the right-most entry is trusted.
    lp = {"BASE_URL": "https://mail.example.com", "IP_PROXY_COUNT": 1, "IP_PROXY_ORDER": "right-most"}
    with override_settings(LEADPIXEL=lp):
        client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="10.0.0.2",
                   HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.44")
    assert Open.objects.get().ip == "198.51.100.44"


def test_writing_an_event_twice_is_a_no_op(message):
    from django_leadpixel.ingest.hits import Hit
    from django_leadpixel.ingest.record import record

    hit = Hit(kind="open", message_id=message.public_id, user_agent=CHROME, ip="198.51.100.1")
    assert record(hit) is True
    assert record(hit) is False
    assert Open.objects.count() == 1
    assert Message.objects.with_stats().get().opens_total == 1


def broken_request_info(request):
    raise RuntimeError("a project's own request parser failed")


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                              "REQUEST_INFO_FUNCTION": "tests.test_views.broken_request_info"})
def test_a_failing_request_info_function_keeps_the_hit_without_an_address(client, message):
    assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    event = Open.objects.get()
    assert event.ip is None and event.user_agent == CHROME and event.source == "human"


def test_a_classifier_crash_is_spooled_not_a_500(client, message, monkeypatch, tmp_path):
    import json

    from django_leadpixel.ingest import record as recording
    from django_leadpixel.ingest import spool as spool_module

    def crash(**kwargs):
        raise RuntimeError("classifier bug")

    spool = tmp_path / "spool.jsonl"
    monkeypatch.setattr(recording, "classify", crash)
    monkeypatch.setattr(spool_module, "spool_logger", __import__("logging").getLogger("lp.test.spool"))
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "SPOOL_FILE": str(spool)}):
        assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    [line] = [json.loads(x) for x in spool.read_text().splitlines()]
    assert line["source"] == "unknown" and line["message"] == str(message.public_id)


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": False})
def test_the_pixel_and_the_click_are_one_statement_each(client, django_assert_num_queries):
    message = make_message()
    # On PostgreSQL the first hit of each kind on a connection also PREPAREs its
    # statement (tests/test_sql.py); after that, one statement per hit.
    client.get(pixel_path(message), HTTP_USER_AGENT=CHROME)
    client.get(click_path(message), HTTP_USER_AGENT=CHROME)
    # INSERT ... SELECT from the message row; history is looked at when the event is
    # enriched. No BEGIN/COMMIT around single statements.
    with django_assert_num_queries(1):
        assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.7"))
    with django_assert_num_queries(1):  # another reader: not a repeat of the first click
        assert client.get(click_path(message), HTTP_USER_AGENT=CHROME,
                          REMOTE_ADDR="198.51.100.7").status_code == 302
    assert Open.objects.count() == 2 and Click.objects.count() == 2


def test_a_failing_signal_receiver_breaks_nothing(client, message):
    def broken(**kwargs):
        raise RuntimeError("an integrator's receiver failed")

    open_recorded.connect(broken, weak=False, dispatch_uid="broken-open")
    click_recorded.connect(broken, weak=False, dispatch_uid="broken-click")
    try:
        assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
        assert client.get(click_path(message), HTTP_USER_AGENT=CHROME).status_code == 302
    finally:
        open_recorded.disconnect(dispatch_uid="broken-open")
        click_recorded.disconnect(dispatch_uid="broken-click")
    assert Open.objects.count() == 1 and Click.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # autocommit: the enrichment dispatch runs at once
def test_a_failing_enrichment_dispatch_neither_spools_nor_breaks_a_stored_hit(
        client, monkeypatch, tmp_path, caplog):
    import logging

    from django_leadpixel import tasks
    from django_leadpixel.ingest import spool as spool_module

    def broken(kind, event_id):
        raise RuntimeError("the dispatcher failed")

    monkeypatch.setattr(tasks, "enqueue_enrichment", broken)
    monkeypatch.setattr(spool_module, "spool_logger", logging.getLogger("lp.test.dispatch.spool"))
    spool = tmp_path / "spool.jsonl"
    message = make_message()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "SPOOL_FILE": str(spool)}):
        assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
        assert client.get(click_path(message), HTTP_USER_AGENT=CHROME).status_code == 302
    assert Open.objects.count() == 1 and Click.objects.count() == 1
    assert not spool.exists() or spool.read_text() == ""
    assert "the dispatcher failed" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["?next=https://evil.example/", "?url=https://evil.example/",
                                   "?redirect=//evil.example", "?next=javascript:alert(1)"])
def test_the_click_ignores_query_parameters(client, message, query):
    # Issue 14, item 14: only the signed destination is ever followed.
    url = message.tracked_url("https://shop.example.com/offer")
    response = client.get(url + query, HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/offer"


# --- forwarding headers: believed only from a configured proxy -------------------------------

FORGED = {"HTTP_X_FORWARDED_FOR": "66.249.84.12", "HTTP_X_REAL_IP": "66.249.84.12",
          "HTTP_TRUE_CLIENT_IP": "66.249.84.12", "HTTP_CF_CONNECTING_IP": "66.249.84.12",
          "HTTP_FORWARDED": "for=66.249.84.12;proto=https"}


@pytest.mark.parametrize("headers", [{name: value} for name, value in FORGED.items()] + [FORGED],
                         ids=[*FORGED, "all"])
def test_a_direct_caller_cannot_choose_its_stored_address(client, message, headers):
    # Without a proxy configured, a forwarding header is the caller's own claim: Google's
    # address with Gmail's agent would forge a Google-proxy open (and its country).
    assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=GMAIL_PROXY,
                          REMOTE_ADDR="198.51.100.9", **headers))
    client.get(click_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.9", **headers)
    assert Open.objects.get().ip == "198.51.100.9"
    assert Click.objects.get().ip == "198.51.100.9"


NGINX = [{"IP_PROXY_COUNT": 1, "IP_PROXY_ORDER": "right-most"}, {"IP_TRUSTED_PROXIES": ["127.0.0.1"]}]


@pytest.mark.parametrize("proxy", NGINX, ids=["count", "trusted"])
@pytest.mark.parametrize("forwarded_for", ["198.51.100.44", "6.6.6.6, 198.51.100.44",
                                           "66.249.84.12, 6.6.6.6, 198.51.100.44"])
def test_behind_nginx_the_readme_settings_store_the_client(client, message, proxy, forwarded_for):
    # nginx appends the address it saw ($proxy_add_x_forwarded_for): a client that sends
    # no X-Forwarded-For arrives with one address, a forger with more in front of it.
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", **proxy}):
        client.get(pixel_path(message), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="127.0.0.1",
                   HTTP_X_FORWARDED_FOR=forwarded_for)
    assert Open.objects.get().ip == "198.51.100.44"
