"""The visitor value a click adds for the sender's own hosts: signed, unforgeable, short."""

import base64
import uuid

import pytest
from django.test import override_settings

from django_leadpixel import tokens


def test_round_trip_and_no_email_inside():
    message, click = uuid.uuid4(), uuid.uuid4()
    value = tokens.make_visitor(message, click)
    assert tokens.read_visitor(value) == tokens.Visitor(message, click)
    assert value == value.lower() and len(value) == 72
    assert tokens.read_visitor(value.upper()) == tokens.Visitor(message, click)
    raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
    assert raw[1:17] == message.bytes and raw[17:33] == click.bytes and len(raw) == 1 + 16 + 16 + 12


def test_a_forged_or_moved_value_is_refused():
    message, click = uuid.uuid4(), uuid.uuid4()
    value = tokens.make_visitor(message, click)
    raw = bytearray(base64.b32decode(value.upper() + "=" * (-len(value) % 8)))
    other = uuid.uuid4()
    moved = bytes(raw[:1]) + other.bytes + bytes(raw[17:])  # same MAC, another message
    with pytest.raises(tokens.BadToken):
        tokens.read_visitor(base64.b32encode(moved).decode().rstrip("=").lower())
    moved_click = bytes(raw[:17]) + other.bytes + bytes(raw[33:])
    with pytest.raises(tokens.BadToken):
        tokens.read_visitor(base64.b32encode(moved_click).decode().rstrip("=").lower())
    for bad in ("", "x" * 200, value[:-1], value[:-2] + ("a" if value[-2] != "a" else "b") + value[-1]):
        with pytest.raises(tokens.BadToken):
            tokens.read_visitor(bad)


def test_another_kind_of_token_is_not_a_visitor():
    message = uuid.uuid4()
    with pytest.raises(tokens.BadToken):
        tokens.read_visitor(tokens.make_open_token(message))
    with pytest.raises(tokens.BadToken):
        tokens.read_click_token(tokens.make_visitor(message, uuid.uuid4()))


def test_another_secret_key_is_refused_and_a_fallback_accepted():
    message, click = uuid.uuid4(), uuid.uuid4()
    value = tokens.make_visitor(message, click)
    with override_settings(SECRET_KEY="another-key-entirely"):
        with pytest.raises(tokens.BadToken):
            tokens.read_visitor(value)
    with override_settings(SECRET_KEY="another-key-entirely",
                           SECRET_KEY_FALLBACKS=["leadpixel-tests-not-secret"]):
        assert tokens.read_visitor(value).click_id == click


@pytest.mark.parametrize("url,hosts,expected", [
    ("https://shop.example.com/x", ["shop.example.com"], True),
    ("https://SHOP.example.com:8443/x", ["shop.example.com"], True),
    ("https://www.example.com/x", ["shop.example.com"], False),
    ("https://example.com/x", [".example.com"], True),
    ("https://a.b.example.com/x", [".example.com"], True),
    ("https://badexample.com/x", [".example.com"], False),
    ("https://example.com.evil.net/x", [".example.com", "example.com"], False),
    ("https://shop.example.com@evil.net/x", ["shop.example.com"], False),
    ("https://shop.example.com/x", [], False),
])
def test_visit_hosts(url, hosts, expected):
    assert tokens.visit_host(url, hosts) is expected


def test_tagging_keeps_the_address_and_replaces_an_old_value():
    assert tokens.tag_destination("https://s.example.com/p?a=1&lp=old#top", "lp", "v") == \
        "https://s.example.com/p?a=1&lp=v#top"
    assert tokens.tag_destination("https://s.example.com", "lp", "v") == "https://s.example.com?lp=v"
    assert tokens.untag("/p/", "a=1&lp=v&b=2", "lp") == "/p/?a=1&b=2"
    assert tokens.untag("/p/", "lp=v", "lp") == "/p/"
