"""ESP opens and clicks through django-anymail: its test backend, and its webhook views fed
payloads written from the ESPs' public webhook documentation (SendGrid Event Webhook,
Mailgun webhooks "opened"/"clicked", Postmark open and click webhooks). No network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.test import override_settings

anymail = pytest.importorskip("anymail")

from anymail.signals import AnymailTrackingEvent, tracking  # noqa: E402

from django_leadpixel import tokens  # noqa: E402
from django_leadpixel.ingest import esp  # noqa: E402
from django_leadpixel.jobs.reclassify import reclassify  # noqa: E402
from django_leadpixel.models import Click, Message, Open  # noqa: E402

SECRET = "hook:s3cret"
SIGNING_KEY = "mailgun-signing-key"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}
IPHONE_MAIL = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Mobile/15E148")
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/119.0.0.0 Safari/537.36")
WHEN = datetime(2026, 11, 30, 9, 30, tzinfo=dt_timezone.utc)

pytestmark = [
    pytest.mark.urls("tests.anymail_urls"),
    # Newer anymail warns that it no longer officially supports SendGrid (its webhook view
    # works); that warning's own class is not in anymail 10, the declared minimum.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailWarning"),
    pytest.mark.usefixtures("anymail_settings"),
]


@pytest.fixture
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    esp.counts.clear()


@pytest.fixture
def sent(db):
    """A message whose email went out through an ESP with id ``esp-1``."""
    return Message.objects.create(recipient="ana@example.org", subject="Autumn",
                                  esp_message_id="esp-1", sent_at=WHEN - timedelta(hours=1))


def post(client, esp_name, payload, **extra):
    return client.post(f"/anymail/{esp_name}/tracking/", json.dumps(payload),
                       content_type="application/json", **AUTH, **extra)


def sendgrid(event, **fields):
    # SendGrid Event Webhook reference: a JSON array of events; anymail_id is the custom
    # argument django-anymail adds, which it reports as the message id.
    return [{"email": "ana@example.org", "timestamp": int(WHEN.timestamp()), "event": event,
             "sg_event_id": "FOTFFO0ecsBE-zxFXfs6WA==",
             "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
             "useragent": CHROME, "ip": "203.0.113.7", "anymail_id": "esp-1", **fields}]


def mailgun(event, client_info, **data):
    # Mailgun webhooks: {"signature": {...}, "event-data": {...}} with client-info on opens
    # and clicks ("bot" names the machine: "apple", "gmail", or "").
    token, timestamp = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0", "1764495000"
    signature = hmac.new(SIGNING_KEY.encode(), f"{timestamp}{token}".encode(),
                         hashlib.sha256).hexdigest()
    return {"signature": {"token": token, "timestamp": timestamp, "signature": signature},
            "event-data": {"event": event, "timestamp": WHEN.timestamp(),
                           "id": "DACSsAdVSeGpLid7TN03WA", "recipient": "ana@example.org",
                           "client-info": client_info, "ip": "17.58.0.1",
                           "message": {"headers": {"message-id": "esp-1"}}, **data}}


def postmark_open(**fields):
    # Postmark open webhook: RecordType "Open", no event id.
    return {"RecordType": "Open", "MessageStream": "outbound", "FirstOpen": True,
            "Client": {"Name": "Chrome 119", "Company": "Google", "Family": "Chrome"},
            "OS": {"Name": "macOS", "Company": "Apple Computer, Inc.", "Family": "OS X"},
            "Platform": "WebMail", "UserAgent": CHROME, "ReadSeconds": 5,
            "MessageID": "esp-1", "Metadata": {}, "ReceivedAt": WHEN.isoformat(),
            "Tag": "autumn", "Recipient": "ana@example.org", **fields}


# --- the backend stores the ESP's id ---------------------------------------------------

def test_tracking_backend_over_anymail_stores_the_esp_message_id(settings, db):
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com",
                          "EMAIL_BACKEND": "anymail.backends.test.EmailBackend"}
    email = EmailMultiAlternatives("Hi", "text", "a@example.com",
                                   ["ana@example.org", "bo@example.org"],
                                   connection=get_connection("django_leadpixel.mail.TrackingBackend"))
    email.attach_alternative("<html><body><a href='https://example.com/a'>a</a></body></html>",
                             "text/html")
    assert email.send() == 2
    # The test backend's message id is the copy's place in the outbox.
    assert list(Message.objects.order_by("pk").values_list("recipient", "esp_message_id")) == [
        ("ana@example.org", "0"), ("bo@example.org", "1")]
    assert [m.anymail_test_params["to"][0].addr_spec for m in mail.outbox] == [
        "ana@example.org", "bo@example.org"]
    # The caller sees every copy's status, as if anymail had sent one email to both.
    assert email.anymail_status.status == {"sent"}
    assert set(email.anymail_status.recipients) == {"ana@example.org", "bo@example.org"}
    assert email.anymail_status.message_id == {0, 1}


def test_an_id_reused_across_recipients_finds_the_recipient(client, sent):
    other = Message.objects.create(recipient="bo@example.org", esp_message_id="esp-1")
    post(client, "sendgrid", sendgrid("open", email="bo@example.org"))
    assert Open.objects.get().message == other
    post(client, "sendgrid", sendgrid("open", sg_event_id="x", email="cy@example.org"))
    assert Open.objects.count() == 1 and esp.counts["unknown"] == 1


# --- webhooks ----------------------------------------------------------------------------

def test_sendgrid_machine_open_is_apple_mpp_and_retries_store_one_row(client, sent):
    payload = sendgrid("open", sg_machine_open=True)
    assert post(client, "sendgrid", payload).status_code == 200
    assert post(client, "sendgrid", payload).status_code == 200  # the ESP retries
    event = Open.objects.get()
    assert (event.message, event.source, event.method) == (sent, "apple_mpp", "ESP")
    assert "sg_machine_open" in event.reason
    assert event.occurred_at == WHEN and event.ip is None and event.user_agent == CHROME
    assert esp.counts == {"stored": 1, "repeated": 1}


def test_sendgrid_person_open_and_click(client, sent):
    post(client, "sendgrid", sendgrid("open", sg_machine_open=False))
    post(client, "sendgrid", sendgrid("click", sg_event_id="click-1",
                                      url="https://example.com/offer?a=1&b=2",
                                      url_offset={"index": 0, "type": "html"}))
    opened, clicked = Open.objects.get(), Click.objects.get()
    assert opened.source == "human" and "SendGrid".lower() in opened.reason.lower()
    assert (clicked.source, clicked.url) == ("human", "https://example.com/offer?a=1&b=2")


@pytest.mark.parametrize(("bot", "source"), [("apple", "apple_mpp"), ("gmail", "google_proxy"),
                                             ("", "human")])
def test_mailgun_client_info_bot(client, sent, bot, source):
    info = {"client-type": "mobile browser", "client-os": "iOS", "device-type": "mobile",
            "client-name": "Mobile Safari", "user-agent": IPHONE_MAIL, "bot": bot}
    assert post(client, "mailgun", mailgun("opened", info)).status_code == 200
    event = Open.objects.get()
    assert event.source == source
    assert ("client-info.bot" in event.reason) == bool(bot)


def test_mailgun_click_and_its_retry(client, sent):
    info = {"client-type": "browser", "user-agent": CHROME, "bot": ""}
    payload = mailgun("clicked", info, url="https://example.com/pricing")
    post(client, "mailgun", payload)
    post(client, "mailgun", payload)
    assert list(Click.objects.values_list("url", "source")) == [("https://example.com/pricing",
                                                                 "human")]


def test_mailgun_bad_signature_is_refused_and_stores_nothing(client, sent):
    payload = mailgun("opened", {"bot": ""})
    payload["signature"]["signature"] = "0" * 64
    assert post(client, "mailgun", payload).status_code == 400
    assert not Open.objects.exists()


def test_postmark_open_without_event_id_is_idempotent_by_content(client, sent):
    assert post(client, "postmark", postmark_open()).status_code == 200
    assert post(client, "postmark", postmark_open()).status_code == 200
    assert Open.objects.count() == 1
    # Another open (a later time) is another event.
    post(client, "postmark", postmark_open(ReceivedAt=(WHEN + timedelta(hours=2)).isoformat(),
                                           FirstOpen=False))
    assert Open.objects.count() == 2
    assert set(Open.objects.values_list("source", flat=True)) == {"human"}


def test_postmark_click(client, sent):
    payload = {"RecordType": "Click", "MessageStream": "outbound", "ClickLocation": "HTML",
               "Client": {"Name": "Chrome 119"}, "Platform": "Desktop", "UserAgent": CHROME,
               "OriginalLink": "https://example.com/docs", "MessageID": "esp-1",
               "ReceivedAt": WHEN.isoformat(), "Tag": "autumn", "Recipient": "ana@example.org",
               "Metadata": {}}
    assert post(client, "postmark", payload).status_code == 200
    assert Click.objects.get().url == "https://example.com/docs"


def test_unknown_message_id_is_counted_logged_and_answered_200(client, sent, caplog):
    caplog.set_level(logging.DEBUG, logger="django_leadpixel.esp")
    response = post(client, "sendgrid", sendgrid("open", anymail_id="not-ours"))
    assert response.status_code == 200
    assert not Open.objects.exists()
    assert esp.counts["unknown"] == 1
    assert any("unknown message id 'not-ours'" in r.getMessage() for r in caplog.records)


def test_other_event_types_are_ignored(client, sent):
    post(client, "sendgrid", sendgrid("delivered", response="250 OK"))
    assert not Open.objects.exists() and esp.counts["ignored"] == 1


def test_a_receiver_failure_still_answers_200(client, sent, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(esp, "seen_by_us", broken)
    assert post(client, "sendgrid", sendgrid("open")).status_code == 200
    assert esp.counts["failed"] == 1


def test_brevo_proxy_open_through_the_signal(sent):
    event = AnymailTrackingEvent(event_type="opened", timestamp=WHEN, message_id="<esp-1>",
                                 recipient="ana@example.org", user_agent=None,
                                 esp_event={"event": "proxy_open", "message-id": "<esp-1>"})
    tracking.send(sender=object, event=event, esp_name="Brevo")
    tracking.send(sender=object, event=event, esp_name="Brevo")
    opened = Open.objects.get()
    assert opened.source == "apple_mpp" and "proxy_open" in opened.reason


def test_without_consent_the_esp_event_is_anonymous(client, sent):
    sent.tracking_consent = False
    sent.save()
    post(client, "sendgrid", sendgrid("open"))
    opened = Open.objects.get()
    assert opened.anonymous and opened.user_agent == "" and opened.ip is None


# --- deduplication against our own pixel -------------------------------------------------

def pixel_hit(client, message, user_agent=CHROME):
    token = tokens.make_open_token(message.public_id)
    assert client.get(f"/t/o/{token}.gif", HTTP_USER_AGENT=user_agent).status_code == 200


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "REPEAT_WINDOW": 0})
def test_esp_open_after_our_pixel_counts_once(client, sent):
    pixel_hit(client, sent)
    ours = Open.objects.get()
    at = ours.occurred_at + timedelta(seconds=30)
    post(client, "sendgrid", sendgrid("open", timestamp=int(at.timestamp())))
    assert list(Open.objects.all()) == [ours] and esp.counts["duplicate"] == 1
    # Outside the window it is another open.
    later = ours.occurred_at + timedelta(minutes=10)
    post(client, "sendgrid", sendgrid("open", sg_event_id="later",
                                      timestamp=int(later.timestamp())))
    assert Open.objects.count() == 2


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "REPEAT_WINDOW": 0})
def test_our_pixel_after_the_esp_open_replaces_it(client, sent,
                                                  django_capture_on_commit_callbacks):
    now = datetime.now(dt_timezone.utc)
    post(client, "sendgrid", sendgrid("open", timestamp=int(now.timestamp())))
    assert Open.objects.get().method == "ESP"
    with django_capture_on_commit_callbacks(execute=True):
        pixel_hit(client, sent)
    assert list(Open.objects.values_list("method", flat=True)) == ["GET"]


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "REPEAT_WINDOW": 0})
def test_click_dedup_matches_the_url(client, sent, django_capture_on_commit_callbacks):
    url = "https://example.com/offer"
    token = tokens.make_click_token(sent.public_id, url, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(f"/t/c/{token}", HTTP_USER_AGENT=CHROME).status_code == 302
    at = int(Click.objects.get().occurred_at.timestamp())
    post(client, "sendgrid", sendgrid("click", sg_event_id="c1", url=url, timestamp=at))
    post(client, "sendgrid", sendgrid("click", sg_event_id="c2", url="https://example.com/other",
                                      timestamp=at))
    assert sorted(Click.objects.values_list("url", "method")) == [
        ("https://example.com/offer", "GET"), ("https://example.com/other", "ESP")]


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "REPEAT_WINDOW": 0})
def test_our_click_after_the_esp_click_replaces_only_that_link(client, sent,
                                                               django_capture_on_commit_callbacks):
    now = int(datetime.now(dt_timezone.utc).timestamp())
    post(client, "sendgrid", sendgrid("click", sg_event_id="c1", url="https://example.com/offer",
                                      timestamp=now))
    post(client, "sendgrid", sendgrid("click", sg_event_id="c2", url="https://example.com/other",
                                      timestamp=now))
    token = tokens.make_click_token(sent.public_id, "https://example.com/offer", 1)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/t/c/{token}", HTTP_USER_AGENT=CHROME)
    assert sorted(Click.objects.values_list("url", "method")) == [
        ("https://example.com/offer", "GET"), ("https://example.com/other", "ESP")]


def test_reclassification_keeps_the_esp_verdict(client, sent):
    post(client, "sendgrid", sendgrid("open", sg_machine_open=True))  # a Chrome agent, flagged
    reclassify()
    assert Open.objects.get().source == "apple_mpp"
