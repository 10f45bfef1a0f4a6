"""The sending side: ``mail.instrument`` on real-world email HTML, and ``TrackingBackend``
over locmem, console and django-anymail's test backend."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.test import override_settings

from django_leadpixel import tokens
from django_leadpixel.checks import check_settings
from django_leadpixel.linkrewrite import start_tags
from django_leadpixel.mail import CAMPAIGN_HEADER, LintFailed, instrument
from django_leadpixel.models import Message

CORPUS = Path(__file__).resolve().parent / "fixtures" / "email"
LAYOUTS = sorted(path.name for path in CORPUS.glob("*.html"))
TRACKING = "django_leadpixel.mail.TrackingBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
PIXEL = re.compile(r'<img src="(https://mail\.example\.com/t/o/([a-z2-7]+)\.gif)" width="1" '
                   r'height="1" alt="" border="0" style="[^"]*">')


def read(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("utf-8")  # line endings as they are


def without_href(tag: str) -> str:
    """A start tag with its href value blanked: what must be equal before and after."""
    return re.sub(r"""(?i)(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'<>`]+)""", r"\1#", tag, count=1)


def href_of(tag: str) -> str | None:
    for name, value in tag_attrs(tag):
        if name == "href":
            return value
    return None


def tag_attrs(tag: str):
    return start_tags(tag)[0].attrs


def check_instrumented(source: str, out: str, message: Message) -> list[tuple[str, str]]:
    """Assert ``out`` is ``source`` plus the pixel after <body> (or first) and rewritten
    hrefs, byte for byte elsewhere; return (original href, destination) of each tracked link."""
    found = PIXEL.search(out)
    assert found, "no pixel"
    assert tokens.read_open_token(found[2]) == message.public_id
    body = start_tags(source, ("body",))
    at = body[0].offset + len(body[0].text) if body else 0
    assert found.start() == at
    out = out[:found.start()] + out[found.end():]
    before, after = start_tags(source, ("a",)), start_tags(out, ("a",))
    assert len(before) == len(after)
    tracked, last_in, last_out = [], 0, 0
    for old, new in zip(before, after, strict=True):
        assert source[last_in:old.offset] == out[last_out:new.offset]  # untouched text
        assert without_href(old.text) == without_href(new.text)  # only the href value changed
        if old.text != new.text:
            url = href_of(new.text)
            target = tokens.read_click_token(url.rsplit("/", 1)[1])
            assert target.message_id == message.public_id
            assert target.destination == href_of(old.text).strip()
            tracked.append((href_of(old.text), target.destination))
        last_in, last_out = old.offset + len(old.text), new.offset + len(new.text)
    assert source[last_in:] == out[last_out:]
    return tracked


@pytest.mark.parametrize("name", LAYOUTS)
def test_instrument_keeps_the_corpus_byte_for_byte(name, message):
    source = read(name)
    tracked = check_instrumented(source, instrument(source, message), message)
    assert tracked, "every layout has links to track"
    for original, destination in tracked:
        assert "unsubscribe" not in original and not original.startswith(("mailto:", "tel:", "#"))
        assert "&amp;" not in destination  # the entity was read as the URL's "&"


def test_instrument_on_the_outlook_layout(message):
    source = read("outlook_newsletter.html")
    out = instrument(source, message)
    tracked = dict(check_instrumented(source, out, message))
    assert tracked[html.unescape(
        "https://www.example.com/pricing?plan=team&amp;src=button")] == \
        "https://www.example.com/pricing?plan=team&src=button"
    # What Outlook alone reads sits in conditional comments: left as written, as is CSS.
    assert '<a href="https://www.example.com/outlook-only">' in out
    assert 'href="https://www.example.com/pricing?plan=team&amp;src=vml"' in out
    assert "/* a href=\"https://not-a-link.example/in-css\" */" in out
    # The pixel sits right after <body ...>, before the preheader: within Gmail's clip.
    assert re.search(r'<body style="[^"]*">' + PIXEL.pattern, out)
    for kept in ("mailto:support@example.com?subject=Autumn%20notes", "tel:+441234567890",
                 "https://www.example.com/email/unsubscribe?u=8f3a&amp;l=autumn",
                 "https://www.example.com/email/preferences"):
        assert f'href="{kept}"' in out


def test_instrument_uppercase_and_unquoted(message):
    source = read("legacy_uppercase.html")
    out = instrument(source, message)
    tracked = [d for _o, d in check_instrumented(source, out, message)]
    assert tracked == ["https://shop.example.net/track?order=10442&carrier=dhl",
                       "https://shop.example.net/account",
                       "https://shop.example.net/help?topic=returns&lang=en"]
    assert re.search(r"<BODY BGCOLOR=#FFFFFF TEXT=#000000 LINK=#0000FF>" + PIXEL.pattern, out)
    assert '<A HREF="#top">' in out and "TARGET=_blank>" in out


def test_instrument_keeps_crlf_and_text_in_attributes(message):
    source = read("crlf_receipt.html")
    out = instrument(source, message)
    check_instrumented(source, out, message)
    assert out.count("\r\n") == source.count("\r\n") and "\n" not in out.replace("\r\n", "")
    assert 'title="a href=&quot;https://evil.example/&quot;"' in out


def test_instrument_without_body_puts_the_pixel_first(message):
    source = read("fragment.html")
    out = instrument(source, message)
    assert PIXEL.match(out)
    check_instrumented(source, out, message)


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "HONEYPOT_LINK": True})
def test_instrument_honeypot_follows_the_pixel_not_before_the_doctype(message):
    source = read("mjml_output.html")
    out = instrument(source, message)
    assert out.startswith("<!doctype html>")
    trap = re.search(r'<body style="word-spacing:normal;">' + PIXEL.pattern + r'<a href="([^"]+)"',
                     out)
    assert tokens.read_click_token(html.unescape(trap[3]).rsplit("/", 1)[1]).honeypot


# --- the backend ----------------------------------------------------------------------

def html_email(**kwargs) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=kwargs.pop("subject", "Autumn notes"), body="Plain text stays as written.",
        from_email="news@example.com", to=kwargs.pop("to", ["ana@example.org"]),
        connection=get_connection(TRACKING), **kwargs)
    email.attach_alternative(read("outlook_newsletter.html"), "text/html")
    return email


@pytest.fixture
def tracking_settings(settings):
    settings.EMAIL_BACKEND = TRACKING
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "EMAIL_BACKEND": LOCMEM}
    return settings


def test_backend_one_message_and_one_email_per_recipient(tracking_settings, db):
    email = html_email(to=["ana@example.org", "Bo <bo@example.org>"], cc=["cy@example.org"],
                       bcc=["di@example.org", "ANA@example.org"], reply_to=["help@example.com"],
                       headers={"X-Mailer-Id": "42", CAMPAIGN_HEADER: "autumn-2026"})
    email.attach("notes.txt", "attached", "text/plain")
    assert email.send() == 4
    sent = mail.outbox
    assert [(m.to, m.cc, m.bcc) for m in sent] == [
        (["ana@example.org"], [], []), (["Bo <bo@example.org>"], [], []),
        ([], ["cy@example.org"], []), ([], [], ["di@example.org"])]
    messages = Message.objects.order_by("pk")
    assert [m.recipient for m in messages] == ["ana@example.org", "bo@example.org",
                                               "cy@example.org", "di@example.org"]
    assert {m.campaign for m in messages} == {"autumn-2026"}
    assert email.leadpixel_messages == list(messages)
    for one, message in zip(sent, messages, strict=True):
        assert one.body == "Plain text stays as written."
        assert one.subject == "Autumn notes" and one.reply_to == ["help@example.com"]
        assert one.extra_headers == {"X-Mailer-Id": "42"}  # the campaign header is stripped
        assert CAMPAIGN_HEADER not in one.message().as_string()
        assert one.attachments == email.attachments
        html_part = one.alternatives[0][0]
        check_instrumented(read("outlook_newsletter.html"), html_part, message)
    assert CAMPAIGN_HEADER not in email.extra_headers


def test_backend_takes_the_leadpixel_attribute(tracking_settings, db):
    email = html_email(headers={CAMPAIGN_HEADER: "from-header"})
    email.leadpixel = {"campaign": "from-attribute", "metadata": {"segment": "trial"},
                       "consent": False}
    email.send()
    message = Message.objects.get()
    assert (message.campaign, message.metadata, message.tracking_consent) == (
        "from-attribute", {"segment": "trial"}, False)
    assert tokens.read_open(PIXEL.search(mail.outbox[0].alternatives[0][0])[2]).consent is False


def test_backend_opt_out_and_plain_text_pass_through(tracking_settings, db):
    out = html_email(headers={CAMPAIGN_HEADER: "x"})
    out.leadpixel = False
    plain = EmailMessage("Plain", "Only text, https://example.com/a", "a@example.com",
                         ["ana@example.org", "bo@example.org"], connection=get_connection(TRACKING))
    assert out.send() == 1 and plain.send() == 1
    assert not Message.objects.exists()
    assert mail.outbox[0].alternatives[0][0] == read("outlook_newsletter.html")
    assert mail.outbox[0].extra_headers == {}
    assert mail.outbox[1].body == "Only text, https://example.com/a"
    assert mail.outbox[1].to == ["ana@example.org", "bo@example.org"]


def test_backend_html_body_without_alternatives(tracking_settings, db):
    email = EmailMessage("Hi", read("fragment.html"), "a@example.com", ["ana@example.org"],
                         connection=get_connection(TRACKING))
    email.content_subtype = "html"
    email.send()
    check_instrumented(read("fragment.html"), mail.outbox[0].body, Message.objects.get())


class FailsOnThird(LocmemBackend):
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls == 3:
            if self.fail_silently:
                return 0
            raise ConnectionError("SMTP went away")
        return super().send_messages(messages)


def test_failure_mid_send_leaves_no_message_claiming_it_was_sent(tracking_settings, db):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL,
                                   "EMAIL_BACKEND": f"{__name__}.FailsOnThird"}
    FailsOnThird.calls = 0
    email = html_email(to=["a@example.org", "b@example.org", "c@example.org", "d@example.org"])
    with pytest.raises(ConnectionError):
        email.send()
    # a and b went out and keep their messages; c failed; d was never tried.
    assert [m.to for m in mail.outbox] == [["a@example.org"], ["b@example.org"]]
    assert sorted(Message.objects.values_list("recipient", flat=True)) == [
        "a@example.org", "b@example.org"]


def test_failure_with_fail_silently_drops_that_message_only(tracking_settings, db):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL,
                                   "EMAIL_BACKEND": f"{__name__}.FailsOnThird"}
    FailsOnThird.calls = 0
    email = html_email(to=["a@example.org", "b@example.org", "c@example.org", "d@example.org"])
    email.connection = get_connection(TRACKING, fail_silently=True)
    assert email.send(fail_silently=True) == 3
    assert sorted(Message.objects.values_list("recipient", flat=True)) == [
        "a@example.org", "b@example.org", "d@example.org"]


def test_console_backend(tracking_settings, db):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL,
                                   "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    stream = io.StringIO()
    connection = get_connection(TRACKING, stream=stream)
    email = html_email(to=["ana@example.org", "bo@example.org"])
    email.connection = connection
    assert email.send() == 2
    text = stream.getvalue()
    assert text.count("To: ana@example.org") == 1 and text.count("To: bo@example.org") == 1
    assert Message.objects.count() == 2
    for message in Message.objects.all():
        token = tokens.make_open_token(message.public_id)
        assert token in text.replace("=\n", "")  # quoted-printable soft breaks


def test_send_mass_mail_and_send_mail_shortcuts(tracking_settings, db):
    mail.send_mail("Hi", "text", "a@example.com", ["ana@example.org"],
                   html_message=read("fragment.html"))
    assert Message.objects.count() == 1
    assert PIXEL.match(mail.outbox[0].alternatives[0][0])


# --- lint on send -----------------------------------------------------------------------

BAD = ('<html><body><a href="javascript:alert(1)">x</a>'
       '<img src="https://cdn.example.com/IMG_1234.jpg"></body></html>')


def bad_email():
    email = EmailMultiAlternatives("Bad", "text", "a@example.com", ["ana@example.org"],
                                   connection=get_connection(TRACKING))
    email.attach_alternative(BAD, "text/html")
    return email


def test_lint_on_send_error_refuses(tracking_settings, db):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL, "LINT_ON_SEND": "error"}
    with pytest.raises(LintFailed, match="link-javascript"):
        bad_email().send()
    assert not mail.outbox and not Message.objects.exists()


def test_lint_on_send_warn_logs_and_sends(tracking_settings, db, caplog):
    caplog.set_level("WARNING", logger="django_leadpixel.mail")
    assert bad_email().send() == 1
    codes = {r.args[0] for r in caplog.records}
    assert {"link-javascript", "img-alt-missing", "img-name-meaningless"} <= codes
    assert "pixel-missing" not in codes  # linted as it leaves: with its pixel


def test_lint_on_send_off(tracking_settings, db, caplog):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL, "LINT_ON_SEND": "off"}
    caplog.set_level("WARNING", logger="django_leadpixel.mail")
    assert bad_email().send() == 1
    assert not caplog.records



def test_the_real_backend_cannot_be_the_tracking_backend(tracking_settings):
    tracking_settings.LEADPIXEL = {**tracking_settings.LEADPIXEL, "EMAIL_BACKEND": TRACKING}
    with pytest.raises(ImproperlyConfigured, match="cannot be TrackingBackend"):
        get_connection(TRACKING)


def test_check_names_a_wrong_lint_on_send(settings):
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "LINT_ON_SEND": "loud"}
    assert [e.id for e in check_settings(None) if "LINT_ON_SEND" in e.msg] == ["leadpixel.E008"]
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "LINT_ON_SEND": "error",
                          "EMAIL_BACKEND": LOCMEM, "ESP_DEDUP_WINDOW": 30}
    assert check_settings(None) == []
