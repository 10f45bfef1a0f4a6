"""Classification rules that need request shape or history, through the real views."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from django_leadpixel import tokens
from django_leadpixel.models import Click, Message, Open, Status

from .conftest import CHROME, GMAIL_PROXY, IPHONE_SAFARI, make_message

pytestmark = pytest.mark.django_db


def click(client, message, position, agent=CHROME, ip="198.51.100.20", method="get", **kw):
    token = tokens.make_click_token(message.public_id, f"https://example.com/{position}",
                                    position, **kw)
    return getattr(client, method)(f"/t/c/{token}", HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)


def pixel(client, message, agent, ip="198.51.100.20", **headers):
    path = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    return client.get(path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip, **headers)


def test_burst_of_links_is_a_scanner_and_convicts_the_earlier_clicks(client, message):
    for position in (1, 2, 3):
        assert click(client, message, position).status_code == 302
    assert list(Click.objects.order_by("occurred_at").values_list("source", flat=True)) == [
        "scanner"] * 3


def test_one_link_clicked_twice_is_no_burst(client, message):
    click(client, message, 1)
    click(client, message, 1)
    click(client, message, 2)
    assert set(Click.objects.values_list("source", flat=True)) == {"human"}


def test_honeypot_click_is_a_scanner(client, message):
    click(client, message, 0, honeypot=True)
    assert Click.objects.get().source == "scanner"


def test_head_click_and_head_pixel_are_machines(client, message):
    click(client, message, 1, method="head")
    assert Click.objects.get().source == "scanner"
    path = "/t/o/" + tokens.make_open_token(message.public_id) + ".gif"
    client.head(path, HTTP_USER_AGENT=CHROME)
    assert Open.objects.get().source == "bot"


def test_prefetch_header_is_not_an_open(client, message):
    pixel(client, message, CHROME, HTTP_SEC_PURPOSE="prefetch")
    assert Open.objects.get().source == "bot"


def test_time_since_send_alone_never_hides_a_person(client):
    message = make_message(sent_at=timezone.now() - timedelta(seconds=3))
    pixel(client, message, IPHONE_SAFARI)
    click(client, message, 1, agent=IPHONE_SAFARI)
    assert Open.objects.get().source == "human" and Click.objects.get().source == "human"


def test_browser_click_from_a_security_network_at_delivery_without_an_open(client):
    # Microsoft EOP range (40.107.0.0/16): a browser-shaped click seconds after
    # sending, with no open seen from that network, is the gateway detonating it.
    message = make_message(sent_at=timezone.now() - timedelta(seconds=5))
    click(client, message, 1, ip="40.107.22.5")
    assert Click.objects.get().source == "scanner"
    later = make_message(sent_at=timezone.now() - timedelta(hours=5))
    click(client, later, 1, ip="40.107.22.5")
    assert Click.objects.get(message=later).source == "unknown"


def test_message_level_truth(client):
    gmail = make_message(recipient="g@example.com")
    pixel(client, gmail, GMAIL_PROXY, ip="66.249.84.12")
    mpp = make_message(recipient="a@example.com")
    pixel(client, mpp, "Mozilla/5.0", ip="172.225.8.19")
    person = make_message(recipient="p@example.com")
    pixel(client, person, "Mozilla/5.0", ip="172.225.8.19")
    click(client, person, 1, agent=IPHONE_SAFARI)  # a human click implies a human open
    make_message(recipient="n@example.com")

    rows = {m.recipient: m for m in Message.objects.with_stats().with_status()}
    assert rows["g@example.com"].status == Status.PERSON
    assert rows["g@example.com"].google_proxy_opens == 1
    assert rows["a@example.com"].status == Status.MACHINE
    assert rows["a@example.com"].machine_opens == 1 and rows["a@example.com"].human_opens == 0
    assert rows["p@example.com"].status == Status.PERSON
    assert rows["p@example.com"].first_human_open == Click.objects.get().occurred_at
    assert rows["n@example.com"].status == Status.UNOPENED
    assert list(Message.objects.opened_via("google_proxy")) == [gmail]


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": True})
def test_enrichment_runs_after_commit_in_eager_mode(client, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pixel(client, message, GMAIL_PROXY, ip="66.249.84.12")
    event = Open.objects.get()
    assert event.enriched_at is not None and event.masked
