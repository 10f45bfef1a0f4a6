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

import ipaddress

from django.http import HttpRequest
from ipware import get_client_ip

from .conf import app_settings


def clean_ip(value: str | None) -> str | None:
    """Normalise an address for storage: no zone id, IPv4-mapped IPv6 as IPv4."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0].strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


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


def request_info(request: HttpRequest) -> tuple[str | None, str]:
    """Return ``(client ip or None, user agent)`` for ``request``."""
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if app_settings.IP_TRUSTED_PROXIES:
        return _behind_trusted_proxies(request, app_settings.IP_TRUSTED_PROXIES), user_agent
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
