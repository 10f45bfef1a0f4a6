"""Classification rules that need request shape or history, through the real views."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from django_leadpixel import jobs, tokens
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


def sources() -> list[str]:
    return list(Click.objects.order_by("occurred_at").values_list("source", flat=True))


def test_burst_of_links_is_a_scanner_and_convicts_the_earlier_clicks(client, message):
    for position in (1, 2, 3):
        assert click(client, message, position).status_code == 302
    # Each request stores what it saw, in one statement ...
    assert sources() == ["human"] * 3
    # ... and enrichment settles what history shows: three links within a second.
    assert jobs.sweep() == 3
    assert sources() == ["scanner"] * 3
    rows = Click.objects.all()
    assert all(row.masked and row.country == "" and row.device_type == "" for row in rows)
    assert {row.reason for row in rows} >= {"3 links of the message clicked within a second"}


def test_burst_is_settled_in_eager_mode_too(client, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for position in (1, 2, 3):
            click(client, message, position)
    assert sources() == ["scanner"] * 3
    assert all(row.masked and row.enriched_at for row in Click.objects.all())


def test_a_burst_without_tracking_consent_is_settled_too(client):
    message = make_message(tracking_consent=False)
    for position in (1, 2, 3):
        click(client, message, position)
    jobs.sweep()
    rows = Click.objects.all()
    assert {row.source for row in rows} == {"scanner"}
    assert all(row.anonymous and row.ip is None and row.user_agent == "" for row in rows)


def test_settling_keeps_what_only_the_request_knew(client, message):
    # A prefetch (Sec-Purpose) is a machine by the request alone; nothing stored says
    # so, and settling must not turn it back into a person.
    token = tokens.make_click_token(message.public_id, "https://example.com/1", 1)
    client.get(f"/t/c/{token}", HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.20",
               HTTP_SEC_PURPOSE="prefetch")
    verdict = Click.objects.values_list("source", "reason").get()
    assert verdict[0] != "human"
    jobs.sweep()
    assert Click.objects.values_list("source", "reason").get() == verdict


def test_one_link_clicked_twice_is_no_burst(client):
    message = make_message(sent_at=timezone.now() - timedelta(hours=1))
    click(client, message, 1)
    click(client, message, 1)
    click(client, message, 2)
    jobs.sweep()
    assert set(Click.objects.values_list("source", flat=True)) == {"human"}


def test_links_made_with_tracked_url_form_a_burst_by_destination(client):
    # tracked_url() gives every link position 0: the destinations tell them apart.
    message = make_message(sent_at=timezone.now() - timedelta(hours=1))
    for n in range(5):
        response = client.get(message.tracked_url(f"https://example.com/{n}"),
                              HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.20")
        assert response.status_code == 302
    jobs.sweep()
    assert sources() == ["scanner"] * 5
    assert Click.objects.first().reason == "5 links of the message clicked within a second"


def test_two_links_within_a_second_at_delivery_before_any_open_are_a_scanner(client):
    message = make_message()  # sent just now
    click(client, message, 1)
    click(client, message, 2)
    jobs.sweep()
    assert sources() == ["scanner"] * 2
    assert "another link of the message clicked within the second" in Click.objects.first().reason


def test_two_links_within_a_second_after_a_persons_open_stay_a_persons(client):
    message = make_message()
    pixel(client, message, IPHONE_SAFARI)
    click(client, message, 1)
    click(client, message, 2)
    jobs.sweep()
    assert sources() == ["human"] * 2


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
    assert Click.objects.get().source == "unknown"  # the request alone cannot tell
    later = make_message(sent_at=timezone.now() - timedelta(hours=5))
    click(client, later, 1, ip="40.107.22.5")
    opened = make_message(sent_at=timezone.now() - timedelta(seconds=5))
    pixel(client, opened, CHROME, ip="40.107.22.9")
    click(client, opened, 1, ip="40.107.22.5")
    jobs.sweep()
    assert Click.objects.get(message=message).source == "scanner"
    assert Click.objects.get(message=later).source == "unknown"
    assert Click.objects.get(message=opened).source == "unknown"  # an open from that network


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
