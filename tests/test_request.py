"""request_info skips django-ipware only where ipware's answer is known: it must not change."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from ipware import get_client_ip

from django_leadpixel.conf import app_settings
from django_leadpixel.request import address_headers as _address_headers
from django_leadpixel.request import clean_ip, request_info
from django_leadpixel.request import peer_only as _peer_only

# Spellings ipware folds together, and keys it must never read.
HEADERS = ["HTTP_X_FORWARDED_FOR", "X_FORWARDED_FOR", "X-Forwarded-For", "x-forwarded-for",
           "HTTP_X_REAL_IP", "X-REAL-IP", "x-real-ip", "HTTP_CLIENT_IP", "HTTP_FORWARDED",
           "HTTP_CF_CONNECTING_IP", "CF-CONNECTING-IP", "HTTP_TRUE_CLIENT_IP", "FORWARDED",
           "http_x_forwarded_for", "HTTP_X_ENVOY_EXTERNAL_ADDRESS"]
OTHER = ["HTTP_USER_AGENT", "HTTP_HOST", "SERVER_NAME", "HTTP_X_FORWARDED_HOST", "HTTP_VIA",
         "HTTP_X_FORWARDED_PROTO", "QUERY_STRING"]
ADDRESSES = ["64:ff9b::203.0.113.4", "224.0.0.1", "240.0.0.1",
             "198.51.100.7", "10.0.0.2", "127.0.0.1", "2001:db8::1", "::ffff:203.0.113.9",
             "fe80::1%eth0", "unknown", "", "300.1.1.1", "203.0.113.5:8080", "[2001:db8::2]:443",
             "for=192.0.2.60;proto=http", "8.8.8.8", "0.0.0.0", "::1", "2001:DB8::A"]
value = st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=3).map(", ".join)
headers = st.dictionaries(st.sampled_from(HEADERS + OTHER), value, max_size=4)
peer = st.one_of(st.none(), st.sampled_from(ADDRESSES), value)


def through_ipware(request) -> str | None:
    """What request_info answered before the shortcut: ipware over the whole request."""
    ip, _ = get_client_ip(request, proxy_order=app_settings.IP_PROXY_ORDER,
                          proxy_count=app_settings.IP_PROXY_COUNT,
                          request_header_order=app_settings.IP_META_PRECEDENCE_ORDER)
    return clean_ip(ip)


@pytest.mark.parametrize("leadpixel", [
    {"IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP", "REMOTE_ADDR"], "IP_PROXY_ORDER": "right-most"},
    {}, {"IP_PROXY_COUNT": 1, "IP_PROXY_ORDER": "right-most"}, {"IP_PROXY_ORDER": "right-most"},
    {"IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP", "REMOTE_ADDR"]},
    {"IP_META_PRECEDENCE_ORDER": ["REMOTE_ADDR", "HTTP_X_REAL_IP"]},
])
@settings(max_examples=200, deadline=None)
@given(extra=headers, remote=peer, only_peer=st.booleans())
def test_same_address_as_ipware(leadpixel, extra, remote, only_peer):
    with override_settings(LEADPIXEL=leadpixel):
        request = RequestFactory().get("/t/o/x.gif")
        request.META.pop("REMOTE_ADDR", None)
        if remote is not None:
            request.META["REMOTE_ADDR"] = remote
        if not only_peer:
            request.META.update(extra)
        assert request_info(request)[0] == through_ipware(request)


def test_the_shortcut_is_taken_for_a_plain_request_only():
    plain = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="x")
    assert _peer_only(plain.META) == (True, "198.51.100.7")
    unspecified = RequestFactory().get("/", REMOTE_ADDR="0.0.0.0")
    assert _peer_only(unspecified.META) == (True, None)  # ipware rejects it too
    forwarded = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert _peer_only(forwarded.META) == (False, None)
    assert request_info(forwarded)[0] == "8.8.8.8"
    with override_settings(LEADPIXEL={"IP_PROXY_COUNT": 1}):
        assert _peer_only(plain.META) == (False, None)
    with override_settings(IPWARE_ALGORITHM="legacy"):
        assert _peer_only(plain.META) == (False, None)
    assert _address_headers(("HTTP_X_REAL_IP", "REMOTE_ADDR"), None) == {"HTTP_X_REAL_IP"}
    assert _address_headers(("REMOTE_ADDR", "HTTP_X_REAL_IP"), None) is None
    assert "X_FORWARDED_FOR" in _address_headers(None, None)
