import base64
import binascii
import uuid

import pytest
from django.test import override_settings
from hypothesis import example, given, settings
from hypothesis import strategies as st

from django_leadpixel import tokens

MID = uuid.UUID("7f0c2a1e-0000-4000-8000-0123456789ab")


def test_open_token_round_trip_and_case_insensitive():
    token = tokens.make_open_token(MID)
    assert token == token.lower() and set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert tokens.read_open_token(token) == MID
    assert tokens.read_open_token(token.upper()) == MID
    assert len(token) == 47  # 29 bytes (1 + 16 + 12) in unpadded base32


def test_click_token_carries_destination_position_and_survives_case_changes():
    url = "https://shop.example.com/offer?utm_source=email&id=7#top"
    token = tokens.make_click_token(MID, url, 3)
    for variant in (token, token.upper()):
        target = tokens.read_click_token(variant)
        assert (target.message_id, target.destination, target.position) == (MID, url, 3)
        assert target.honeypot is False


def test_long_destinations_are_compressed():
    url = "https://example.com/" + "a/" * 400
    token = tokens.make_click_token(MID, url)
    assert len(token) < len(url)
    assert tokens.read_click_token(token).destination == url


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<b>x</b>", "vbscript:msgbox", "/relative/path",
     "//evil.example.com/x", "ftp://example.com/f", "http:\\\\evil.example.com",
     "https://example.com/a\r\nSet-Cookie: x=1", "https://", "mailto:x@example.com", "", 42],
)
def test_unsafe_destinations_cannot_be_signed(url):
    with pytest.raises(tokens.UnsafeDestination):
        tokens.make_click_token(MID, url)


def test_tampered_truncated_and_foreign_tokens_are_rejected():
    open_token = tokens.make_open_token(MID)
    click_token = tokens.make_click_token(MID, "https://example.com/")
    flipped = open_token[:-3] + ("a" if open_token[-3] != "a" else "b") + open_token[-2:]
    for bad in (flipped, open_token[:-5], open_token[:10], "", "x" * 5000, "not base32!", "\x00",
                "é" * 40, click_token):
        with pytest.raises(tokens.BadToken):
            tokens.read_open_token(bad)
    with pytest.raises(tokens.BadToken):
        tokens.read_click_token(open_token)  # right signature, wrong salt


def test_keys_rotate_through_secret_key_fallbacks():
    with override_settings(SECRET_KEY="old-key-" + "x" * 40):
        token = tokens.make_click_token(MID, "https://example.com/")
    with override_settings(SECRET_KEY="new-key-" + "y" * 40,
                           SECRET_KEY_FALLBACKS=["old-key-" + "x" * 40]):
        assert tokens.read_click_token(token).destination == "https://example.com/"
    with override_settings(SECRET_KEY="new-key-" + "y" * 40, SECRET_KEY_FALLBACKS=[]):
        with pytest.raises(tokens.BadToken):
            tokens.read_click_token(token)


def test_urls_are_absolute_from_base_url_and_carry_no_personal_data(message):
    url = message.pixel_url()
    assert url.startswith("https://mail.example.com/t/o/") and url.endswith(".gif")
    click = message.tracked_url("https://example.com/x")
    assert click.startswith("https://mail.example.com/t/c/")
    for text in (url, click):
        assert message.recipient not in text and str(message.pk) not in text.split("/")[-1][:3]
        assert str(message.public_id) not in text


def _reference_decode(token: str) -> bytes | None:
    """The canonical base32 rule spelled with the standard library (None: rejected)."""
    if not token or not token.isascii() or not all(ch.upper() in tokens.ALPHABET for ch in token):
        return None
    text = token.upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b32encode(raw).decode().rstrip("=") == text else None


@settings(max_examples=3000, deadline=None)
@given(st.one_of(
    st.text(alphabet=tokens.ALPHABET + tokens.ALPHABET.lower(), max_size=90),
    st.text(alphabet=tokens.ALPHABET + "=01890_ -+ıſ\x00", max_size=20),
    st.binary(max_size=60).map(lambda b: base64.b32encode(b).decode().rstrip("=")),
))
@example("")
@example("AE")  # canonical: one byte
@example("AF")  # same byte with spare bits set
@example("A")   # a length base32 cannot have
def test_base32_decoding_matches_the_standard_library(token):
    expected = _reference_decode(token)
    if expected is None:
        with pytest.raises(tokens.BadToken):
            tokens.b32decode_canonical(token)
    else:
        assert tokens.b32decode_canonical(token) == expected
        assert tokens.b32decode_canonical(token.lower()) == expected
