"""Client IP and user agent of a tracking request.

No forwarding header is believed unless the proxies in front of Django are
configured: without settings the client is the socket peer (``REMOTE_ADDR``),
whatever ``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``, ``CF-Connecting-IP``
or ``True-Client-IP`` a caller wrote. Otherwise anyone could choose the stored
address, and with it the country (Google's address with Gmail's agent would
forge a Google-proxy open).

Behind proxies, one of:

- ``LEADPIXEL["IP_PROXY_COUNT"] = N``: N proxies, each appending the address
  it saw to ``X-Forwarded-For`` (nginx ``$proxy_add_x_forwarded_for``, load
  balancers). The right-most N addresses are theirs; the client is the first
  of them, the N-th from the right, whatever the client wrote in front. One
  nginx: ``IP_PROXY_COUNT = 1``. ``IP_META_PRECEDENCE_ORDER`` names the
  header(s) the proxies write instead (e.g. ``["HTTP_X_REAL_IP"]`` for
  ``proxy_set_header X-Real-IP $remote_addr``).
- ``LEADPIXEL["IP_TRUSTED_PROXIES"]``: the proxies' address prefixes (such as
  ``"10.0.0."``). X-Forwarded-For is believed only when the socket peer is one
  of them, and the client is the right-most hop that is not.

Addresses are read the way django-ipware reads them (ports, brackets, RFC 7239
``for=``, IPv4-mapped IPv6; unspecified, multicast and reserved addresses are
refused). Requests from a loopback or private peer that carry forwarding
headers nobody trusts log one warning per process, naming the setting to set.
Replace the whole function with ``LEADPIXEL["REQUEST_INFO_FUNCTION"]`` (a
dotted path).
"""

from __future__ import annotations

import functools
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest
from python_ipware import IpWare

from .addresses import clean as clean_ip
from .conf import app_settings

logger = logging.getLogger("django_leadpixel")

# Set once the warning about untrusted forwarding headers has been logged (one per process).
_warned = False

# Forwarding headers named if python-ipware cannot tell its own list (folded spellings).
_KNOWN_HEADERS = frozenset({
    "HTTP_X_FORWARDED_FOR", "X_FORWARDED_FOR", "HTTP_X_REAL_IP", "X_REAL_IP", "HTTP_FORWARDED",
    "FORWARDED", "HTTP_CLIENT_IP", "HTTP_CF_CONNECTING_IP", "CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP", "TRUE_CLIENT_IP", "HTTP_X_CLUSTER_CLIENT_IP", "HTTP_FORWARDED_FOR",
})
_HOP_MAX = 100  # longer than any address with a port: not one, and not worth caching


def _trusted(address: str, prefixes: list[str]) -> bool:
    return any(address.startswith(prefix) for prefix in prefixes)


def _behind_trusted_proxies(meta, prefixes: list[str]) -> str | None:
    """The client address when only the proxies in ``prefixes`` are believed.

    Trust is decided by the socket peer, not by what a header claims: a peer
    that is not one of our proxies is the client, whatever X-Forwarded-For it
    wrote. Through our proxies, the client is the right-most hop that is not
    one of them (each proxy appends the address it saw).
    """
    remote = meta.get("REMOTE_ADDR") or ""
    if not _trusted(remote, prefixes):
        if not _warned and _internal(remote):
            headers = _forwarding_headers(meta)
            if headers:
                _warn(remote, headers, "it is not in IP_TRUSTED_PROXIES")
        return clean_ip(remote)
    hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops[-100:]):
        if hop and not _trusted(hop, prefixes):
            return clean_ip(hop)
    return None


def _behind_proxy_count(meta, count: int) -> str | None:
    """The N-th address from the right: what the first of N appending proxies saw.

    Read by position from the right, so a client's own entries in front
    (addresses or garbage) never move it. When the header does not hold what
    N proxies would have written (fewer entries, or no address there), the
    request did not come through them: the socket peer is what is known.
    """
    raw = _proxy_header(meta, app_settings.IP_META_PRECEDENCE_ORDER)
    if raw and count >= 1:
        hops = raw.rsplit(",", count)  # splits off the right-most ``count`` entries only
        if len(hops) >= count:
            hop = hops[-count].strip()
            address = _address(hop) if hop and len(hop) <= _HOP_MAX else None
            if address is not None:
                return address
    return socket_peer(meta)


def _proxy_header(meta, names) -> str | None:
    """The first of ``names`` (default X-Forwarded-For) that the request carries."""
    for name in names or ("HTTP_X_FORWARDED_FOR",):
        if not isinstance(name, str):
            continue
        folded = _fold(name)
        if folded == "REMOTE_ADDR":
            return None
        value = meta.get(name) or meta.get(folded)
        if isinstance(value, str) and value.strip():
            return value
    return None


@functools.lru_cache(maxsize=1024)  # the same few dozen META keys, request after request
def _fold(key: str) -> str:
    # How python-ipware matches header names: case- and dash/underscore-blind.
    return key.upper().replace("-", "_")


@functools.lru_cache(maxsize=8)
def address_headers(precedence: tuple[str, ...] | None,
                    algorithm: str | None) -> frozenset[str] | None:
    """The forwarding headers ipware's modern engine would read, folded; None if unknown."""
    if algorithm not in (None, "modern"):
        return None
    try:
        names = precedence or IpWare(algorithm="modern").engine.precedence
    except (AttributeError, TypeError):
        return None
    if _fold(names[-1]) != "REMOTE_ADDR":
        return None  # the socket peer is not ipware's last resort: always ask it
    return frozenset(_fold(name) for name in names[:-1])


@functools.lru_cache(maxsize=4)
def _header_names(precedence: tuple[str, ...] | None) -> frozenset[str]:
    # Every header a proxy (or a forger) may use, and those the project named.
    names = set(address_headers(None, None) or _KNOWN_HEADERS)
    names.update(_fold(n) for n in precedence or () if isinstance(n, str))
    names.discard("REMOTE_ADDR")
    return frozenset(names)


def _forwarding_headers(meta) -> list[str]:
    """The forwarding headers ``meta`` carries, by name (their values are the caller's)."""
    precedence = app_settings.IP_META_PRECEDENCE_ORDER
    names = _header_names(tuple(precedence) if precedence else None)
    return sorted({_fold(key) for key in meta if isinstance(key, str) and _fold(key) in names})


@functools.lru_cache(maxsize=256)
def _internal(remote) -> bool:
    """A loopback or private peer: what a reverse proxy on this host or network looks like."""
    try:
        address = ipaddress.ip_address(str(remote).split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def reset_warning() -> None:
    """Let the warning about untrusted forwarding headers be logged again (tests)."""
    global _warned
    _warned = False


def _warn(remote, headers: list[str], advice: str) -> None:
    global _warned
    _warned = True
    logger.warning(
        "leadpixel: requests from %s carry forwarding headers (%s) that no setting trusts, so "
        "hits are stored with %s as the client's address. If that is your reverse proxy or load "
        'balancer, set LEADPIXEL["IP_PROXY_COUNT"] (how many proxies append to X-Forwarded-For: '
        '1 for one nginx) or LEADPIXEL["IP_TRUSTED_PROXIES"] (their prefixes, e.g. '
        '["127.0.0.1"]); %s. See the README, "Client IP behind proxies". Logged once per process.',
        remote, ", ".join(headers), remote, advice)


@functools.lru_cache(maxsize=4)
def _peer_reader(leftmost: bool) -> IpWare:
    return IpWare(precedence=("REMOTE_ADDR",), leftmost=leftmost, algorithm="modern")


@functools.lru_cache(maxsize=4096)
def _peer_answer(remote_addr, leftmost: bool, strict: bool) -> str | None:
    # ipware's reading of one address; senders open mail from the same
    # addresses again and again.
    ip, _trusted = _peer_reader(leftmost).get_client_ip({"REMOTE_ADDR": remote_addr}, strict)
    return None if ip is None else clean_ip(str(ip))


def _address(token: str) -> str | None:
    return _peer_answer(token, True, True)


def socket_peer(meta) -> str | None:
    """The socket peer, read as ipware reads ``REMOTE_ADDR`` (None if it is no address)."""
    strict = getattr(settings, "IPWARE_STRICT", None)
    return _peer_answer(meta.get("REMOTE_ADDR"), app_settings.IP_PROXY_ORDER == "left-most",
                        True if strict is None else bool(strict))


def request_info(request: HttpRequest) -> tuple[str | None, str]:
    """Return ``(client ip or None, user agent)`` for ``request``."""
    meta = request.META
    user_agent = meta.get("HTTP_USER_AGENT", "")
    if app_settings.IP_TRUSTED_PROXIES:
        return _behind_trusted_proxies(meta, app_settings.IP_TRUSTED_PROXIES), user_agent
    count = app_settings.IP_PROXY_COUNT
    if count is not None:
        return _behind_proxy_count(meta, count), user_agent
    # No proxy configured: the socket peer, and no header is read at all.
    peer = socket_peer(meta)
    if not _warned and _internal(meta.get("REMOTE_ADDR")):  # only until the warning is given
        headers = _forwarding_headers(meta)
        if headers:
            _warn(meta.get("REMOTE_ADDR"), headers, "until then no forwarding header is believed")
    return peer, user_agent
