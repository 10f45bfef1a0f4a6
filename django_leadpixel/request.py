"""Client IP and user agent of a tracking request.

The IP comes from django-ipware. Behind a load balancer or reverse proxy set
``LEADPIXEL["IP_PROXY_COUNT"]`` (how many proxies append to X-Forwarded-For)
or ``LEADPIXEL["IP_TRUSTED_PROXIES"]`` (their address prefixes), otherwise a
client can claim any address in X-Forwarded-For. Replace the whole function
with ``LEADPIXEL["REQUEST_INFO_FUNCTION"]`` (a dotted path).

These settings are django-ipware's ``get_client_ip`` arguments: for one proxy
that appends the address it saw (nginx ``$proxy_add_x_forwarded_for``) use
``IP_PROXY_COUNT = 1`` with ``IP_PROXY_ORDER = "right-most"``, so an address a
client wrote into X-Forwarded-For itself is ignored.
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


def request_info(request: HttpRequest) -> tuple[str | None, str]:
    """Return ``(client ip or None, user agent)`` for ``request``."""
    try:
        ip, _routable = get_client_ip(
            request,
            proxy_order=app_settings.IP_PROXY_ORDER,
            proxy_count=app_settings.IP_PROXY_COUNT,
            proxy_trusted_ips=app_settings.IP_TRUSTED_PROXIES or None,
            request_header_order=app_settings.IP_META_PRECEDENCE_ORDER,
        )
    except ValueError:
        # ipware raises on a malformed header chain in strict mode: fall back
        # to the socket peer rather than fail a public endpoint.
        ip = request.META.get("REMOTE_ADDR")
    return clean_ip(ip), request.META.get("HTTP_USER_AGENT", "")
