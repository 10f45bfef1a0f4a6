"""request_info: the socket peer unless a proxy is configured, and never ipware's header walk."""

from __future__ import annotations

import ipaddress
import uuid

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from ipware import get_client_ip

from django_leadpixel.request import address_headers as _address_headers
from django_leadpixel.request import clean_ip, request_info, reset_warning

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

NO_PROXY = [
    {}, {"IP_PROXY_ORDER": "right-most"},
    {"IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP", "REMOTE_ADDR"], "IP_PROXY_ORDER": "right-most"},
    {"IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP", "REMOTE_ADDR"]},
    {"IP_META_PRECEDENCE_ORDER": ["REMOTE_ADDR", "HTTP_X_REAL_IP"]},
]
PROXIES = [{"IP_PROXY_COUNT": 1, "IP_PROXY_ORDER": "right-most"}, {"IP_PROXY_COUNT": 2},
           {"IP_PROXY_COUNT": 1, "IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP", "REMOTE_ADDR"]},
           {"IP_TRUSTED_PROXIES": ["10.", "127.0.0.1"]}]


def build(remote, extra):
    request = RequestFactory().get("/t/o/x.gif")
    request.META.pop("REMOTE_ADDR", None)
    if remote is not None:
        request.META["REMOTE_ADDR"] = remote
    request.META.update(extra)
    return request


def peer_through_ipware(request) -> str | None:
    """ipware over the socket peer alone: what a request with no address header always got."""
    only_peer = RequestFactory().get("/")
    only_peer.META = {k: v for k, v in request.META.items() if k == "REMOTE_ADDR"}
    from django_leadpixel.conf import app_settings

    ip, _ = get_client_ip(only_peer, proxy_order=app_settings.IP_PROXY_ORDER,
                          request_header_order=["REMOTE_ADDR"])
    return clean_ip(ip)


@pytest.mark.parametrize("leadpixel", NO_PROXY)
@settings(max_examples=200, deadline=None)
@given(extra=headers, remote=peer)
def test_without_a_proxy_the_answer_is_ipwares_reading_of_the_peer(leadpixel, extra, remote):
    # Whatever headers come with it: the same answer a plain request got before.
    with override_settings(LEADPIXEL=leadpixel):
        request = build(remote, extra)
        assert request_info(request)[0] == peer_through_ipware(request)


@pytest.mark.parametrize("leadpixel", PROXIES)
@settings(max_examples=200, deadline=None)
@given(extra=headers, remote=peer)
def test_with_a_proxy_any_headers_give_an_address_or_none(leadpixel, extra, remote):
    with override_settings(LEADPIXEL=leadpixel):
        ip = request_info(build(remote, extra))[0]
    if ip is not None:
        ipaddress.ip_address(ip)


def test_ipware_never_walks_the_headers(monkeypatch):
    # The cost this module avoids: ipware reading some thirty header spellings per request.
    from python_ipware.modern.engine import ModernIpWare

    read = []
    original = ModernIpWare.get_client_ip
    monkeypatch.setattr(ModernIpWare, "get_client_ip",
                        lambda self, meta, strict=False: read.append(self.precedence)
                        or original(self, meta, strict))
    for lp in [{}, *PROXIES]:
        fresh = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # never cached
        with override_settings(LEADPIXEL=lp):
            request_info(build("10.0.0.1", {"HTTP_X_FORWARDED_FOR": f"8.8.8.8, {fresh}",
                                            "HTTP_X_REAL_IP": fresh}))
            request_info(build(fresh, {"HTTP_USER_AGENT": "x"}))
    assert read and set(read) == {("REMOTE_ADDR",)}


def test_address_headers_names_ipwares_list():
    assert _address_headers(("HTTP_X_REAL_IP", "REMOTE_ADDR"), None) == {"HTTP_X_REAL_IP"}
    assert _address_headers(("REMOTE_ADDR", "HTTP_X_REAL_IP"), None) is None
    assert "X_FORWARDED_FOR" in _address_headers(None, None)


# --- no forwarding header is believed without a configured proxy ------------------------------


def _request(remote="127.0.0.1", **headers):
    return RequestFactory().get("/t/o/x.gif", REMOTE_ADDR=remote, **headers)


@pytest.fixture
def fresh_warning():
    reset_warning()
    yield
    reset_warning()


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_TRUE_CLIENT_IP",
                                    "HTTP_CF_CONNECTING_IP", "HTTP_FORWARDED"])
def test_without_a_proxy_the_address_is_the_socket_peer(header):
    value = "for=66.249.84.12" if header == "HTTP_FORWARDED" else "66.249.84.12"
    assert request_info(_request("198.51.100.9", **{header: value}))[0] == "198.51.100.9"


def test_one_warning_per_process_for_headers_from_a_private_peer(caplog, fresh_warning):
    with caplog.at_level("WARNING", logger="django_leadpixel"):
        request_info(_request("81.2.69.142", HTTP_X_FORWARDED_FOR="8.8.8.8"))  # a public caller
        assert not caplog.records
        for _ in range(3):
            assert request_info(_request("127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8"))[0] == "127.0.0.1"
            request_info(_request("10.0.0.2", HTTP_X_REAL_IP="8.8.8.8"))
    [warning] = [r for r in caplog.records if r.name == "django_leadpixel"]
    assert warning.levelname == "WARNING"
    text = warning.getMessage()
    assert "IP_PROXY_COUNT" in text and "IP_TRUSTED_PROXIES" in text and "8.8.8.8" not in text


def test_no_warning_for_a_private_peer_without_headers_or_with_a_proxy(caplog, fresh_warning):
    with caplog.at_level("WARNING", logger="django_leadpixel"):
        request_info(_request("127.0.0.1"))
        with override_settings(LEADPIXEL={"IP_PROXY_COUNT": 1}):
            request_info(_request("127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8"))
        with override_settings(LEADPIXEL={"IP_TRUSTED_PROXIES": ["127.0.0.1"]}):
            request_info(_request("127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8"))
    assert not caplog.records


def test_an_untrusted_private_peer_with_headers_is_named_once(caplog, fresh_warning):
    # IP_TRUSTED_PROXIES misses one of the proxies (a second load balancer node).
    with override_settings(LEADPIXEL={"IP_TRUSTED_PROXIES": ["10.0.0.2"]}), \
            caplog.at_level("WARNING", logger="django_leadpixel"):
        assert request_info(_request("10.0.0.3", HTTP_X_FORWARDED_FOR="8.8.8.8"))[0] == "10.0.0.3"
        request_info(_request("10.0.0.3", HTTP_X_FORWARDED_FOR="8.8.8.8"))
    [warning] = caplog.records
    assert "IP_TRUSTED_PROXIES" in warning.getMessage()


public = st.ip_addresses(v=4).filter(
    lambda a: a.is_global and not (a.is_multicast or a.is_reserved)).map(str)


@settings(max_examples=300, deadline=None)
@given(count=st.integers(1, 3), written=st.text(max_size=60), data=st.data())
def test_with_a_proxy_count_whatever_the_client_writes_the_first_proxy_decides(count, written, data):
    # N proxies each append the address they saw: the right-most N entries are theirs, the
    # first of them the client's address, whatever the client put in front.
    hops = data.draw(st.lists(public, min_size=count, max_size=count))
    chain = ", ".join([written, *hops]) if written else ", ".join(hops)
    for order in ("right-most", "left-most"):
        with override_settings(LEADPIXEL={"IP_PROXY_COUNT": count, "IP_PROXY_ORDER": order}):
            assert request_info(_request("10.0.0.9", HTTP_X_FORWARDED_FOR=chain))[0] == hops[0]


def test_with_a_proxy_count_fewer_hops_than_proxies_leave_the_peer():
    with override_settings(LEADPIXEL={"IP_PROXY_COUNT": 2}):
        assert request_info(_request("10.0.0.9", HTTP_X_FORWARDED_FOR="198.51.100.4"))[0] == "10.0.0.9"
        assert request_info(_request("10.0.0.9"))[0] == "10.0.0.9"


def test_with_a_proxy_count_the_header_can_be_named():
    # nginx's proxy_set_header X-Real-IP $remote_addr: one address, written by the proxy.
    lp = {"IP_PROXY_COUNT": 1, "IP_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP"]}
    with override_settings(LEADPIXEL=lp):
        assert request_info(_request("127.0.0.1", HTTP_X_REAL_IP="198.51.100.4",
                                     HTTP_X_FORWARDED_FOR="6.6.6.6"))[0] == "198.51.100.4"
