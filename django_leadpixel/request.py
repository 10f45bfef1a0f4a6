"""Client IP and user agent of a tracking request.

The IP comes from django-ipware. Behind a load balancer or reverse proxy set
``LEADPIXEL["IP_PROXY_COUNT"]`` (how many proxies append to X-Forwarded-For)
or ``LEADPIXEL["IP_TRUSTED_PROXIES"]`` (their address prefixes), otherwise a
client can claim any address in X-Forwarded-For. Replace the whole function
with ``LEADPIXEL["REQUEST_INFO_FUNCTION"]`` (a dotted path).

``IP_PROXY_COUNT``, ``IP_PROXY_ORDER`` and ``IP_META_PRECEDENCE_ORDER`` are
django-ipware's ``get_client_ip`` arguments: for one proxy that appends the
address it saw (nginx ``$proxy_add_x_forwarded_for``) use ``IP_PROXY_COUNT = 1``
with ``IP_PROXY_ORDER = "right-most"``. ``IP_TRUSTED_PROXIES`` (address
prefixes such as ``"10.0.0."``) instead believes X-Forwarded-For only when the
socket peer is one of those proxies, and takes the right-most hop that is not.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip
from python_ipware import IpWare

from .addresses import clean as clean_ip
from .conf import app_settings


def _trusted(address: str, prefixes: list[str]) -> bool:
    return any(address.startswith(prefix) for prefix in prefixes)


def _behind_trusted_proxies(request: HttpRequest, prefixes: list[str]) -> str | None:
    """The client address when only the proxies in ``prefixes`` are believed.

    Trust is decided by the socket peer, not by what a header claims: a peer
    that is not one of our proxies is the client, whatever X-Forwarded-For it
    wrote. Through our proxies, the client is the right-most hop that is not
    one of them (each proxy appends the address it saw).
    """
    remote = request.META.get("REMOTE_ADDR") or ""
    if not _trusted(remote, prefixes):
        return clean_ip(remote)
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops[-100:]):
        if hop and not _trusted(hop, prefixes):
            return clean_ip(hop)
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
def _peer_reader(leftmost: bool) -> IpWare:
    return IpWare(precedence=("REMOTE_ADDR",), leftmost=leftmost, algorithm="modern")


def peer_only(meta: dict) -> tuple[bool, str | None]:
    """(True, ipware's answer) when ipware would find nothing but the socket peer.

    ipware walks some thirty header spellings on every call (~0.1 ms, the
    costliest step of a pixel request). A request that carries none of them
    gets the same answer from an ipware that reads only ``REMOTE_ADDR``.
    Proxy counts change what a chain means, so with one ipware always decides.
    """
    if app_settings.IP_PROXY_COUNT is not None:
        return False, None
    precedence = (app_settings.IP_META_PRECEDENCE_ORDER
                  or getattr(settings, "IPWARE_META_PRECEDENCE_ORDER", None))
    names = address_headers(tuple(precedence) if precedence else None,
                             getattr(settings, "IPWARE_ALGORITHM", None))
    if names is None or any(isinstance(key, str) and _fold(key) in names for key in meta):
        return False, None
    strict = getattr(settings, "IPWARE_STRICT", None)
    return True, _peer_answer(meta.get("REMOTE_ADDR"), app_settings.IP_PROXY_ORDER == "left-most",
                              True if strict is None else bool(strict))


@functools.lru_cache(maxsize=4096)
def _peer_answer(remote_addr, leftmost: bool, strict: bool) -> str | None:
    # ipware's answer depends on these three alone; senders open mail from
    # the same addresses again and again.
    ip, _trusted = _peer_reader(leftmost).get_client_ip({"REMOTE_ADDR": remote_addr}, strict)
    return None if ip is None else clean_ip(str(ip))


def request_info(request: HttpRequest) -> tuple[str | None, str]:
    """Return ``(client ip or None, user agent)`` for ``request``."""
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if app_settings.IP_TRUSTED_PROXIES:
        return _behind_trusted_proxies(request, app_settings.IP_TRUSTED_PROXIES), user_agent
    known, peer = peer_only(request.META)
    if known:
        return peer, user_agent
    try:
        ip, _routable = get_client_ip(
            request,
            proxy_order=app_settings.IP_PROXY_ORDER,
            proxy_count=app_settings.IP_PROXY_COUNT,
            request_header_order=app_settings.IP_META_PRECEDENCE_ORDER,
        )
    except ValueError:
        # ipware raises on a malformed header chain in strict mode: fall back
        # to the socket peer rather than fail a public endpoint.
        ip = request.META.get("REMOTE_ADDR")
    return clean_ip(ip), user_agent
