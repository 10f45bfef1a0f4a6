import html
import re

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

from django_leadpixel import tokens


def render(source, **context):
    return Template("{% load leadpixel %}" + source).render(Context(context))


def test_lead_pixel_from_context_and_argument(message):
    for out in (render("{% lead_pixel %}", message=message), render("{% lead_pixel m %}", m=message)):
        assert re.fullmatch(
            r'<img src="https://mail\.example\.com/t/o/[a-z2-7]+\.gif" width="1" height="1" '
            r'alt="" border="0" style="[^"]+">', out)
        token = re.search(r"/t/o/([a-z2-7]+)\.gif", out)[1]
        assert tokens.read_open_token(token) == message.public_id


def test_lead_pixel_without_message_is_a_clear_error(db):
    with pytest.raises(TemplateSyntaxError, match="needs a Message"):
        render("{% lead_pixel %}")


def test_tracked_url_tag(message):
    out = render('{% tracked_url m "https://shop.example.com/offer?a=1&b=2" %}', m=message)
    url = html.unescape(out)
    token = url.rsplit("/", 1)[1]
    assert tokens.read_click_token(token).destination == "https://shop.example.com/offer?a=1&b=2"
    with pytest.raises(tokens.UnsafeDestination):
        render('{% tracked_url m "javascript:alert(1)" %}', m=message)


def _targets(out):
    found = []
    for _quote, href in re.findall(r"""href=(["'])(.+?)\1""", out):
        href = html.unescape(href)
        if "/t/c/" in href:
            target = tokens.read_click_token(href.rsplit("/", 1)[1])
            found.append((target.destination, target.position))
        else:
            found.append((href, None))
    return found


def test_track_links_rewrites_only_http_links(message):
    out = render(
        "{% track_links m %}"
        '<a href="https://a.example/x?q=1&amp;r=2">a</a> <a class="btn" href=\'http://b.example\'>b</a>'
        '<a href="mailto:x@y.z">m</a><a href="tel:+123">t</a><a href="#top">top</a>'
        '<a href="javascript:alert(1)">j</a><a href="/relative">r</a>'
        '<a href="https://example.com/unsubscribe?u=1">u</a>'
        '<a data-unsubscribe href="https://example.com/prefs">p</a>'
        '<a data-leadpixel="skip" href="https://example.com/skip">s</a>'
        "{% endtrack_links %}",
        m=message,
    )
    assert _targets(out) == [
        ("https://a.example/x?q=1&r=2", 1),
        ("http://b.example", 2),
        ("mailto:x@y.z", None), ("tel:+123", None), ("#top", None),
        ("javascript:alert(1)", None), ("/relative", None),
        ("https://example.com/unsubscribe?u=1", None),
        ("https://example.com/prefs", None), ("https://example.com/skip", None),
    ]
    assert 'class="btn"' in out


def test_track_links_takes_message_from_context(message):
    out = render('{% track_links %}<a href="https://a.example">a</a>{% endtrack_links %}',
                 message=message)
    assert _targets(out) == [("https://a.example", 1)]


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "HONEYPOT_LINK": True})
def test_honeypot_link_is_hidden_and_signed(message):
    out = render('{% track_links m %}<a href="https://a.example">a</a>{% endtrack_links %}',
                 m=message)
    trap = re.search(r'<a href="([^"]+)" style="display:none !important" aria-hidden="true"', out)
    assert trap
    assert tokens.read_click_token(html.unescape(trap[1]).rsplit("/", 1)[1]).honeypot is True
