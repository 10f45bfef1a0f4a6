"""IP address text: parse, public or not, anonymise, network prefix, clean for storage.

Pure (stdlib only), and the one place the package reads an address: ranges,
classification, enrichment, the request and history all go through here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Storage keeps an IPv4 address's /24 and an IPv6 address's /48 (ANONYMIZE_IP);
# a network prefix is the same cut, so anonymised addresses still share it.
IPV4_PREFIX = 24
IPV6_PREFIX = 48


def parse(value: Any) -> IPAddress | None:
    """Parse a client address leniently; None for anything that is not one.

    Accepts surrounding blanks, a zone id (``fe80::1%eth0``), brackets
    (``[2001:db8::1]``) and IPv4-mapped IPv6 (``::ffff:1.2.3.4``, returned as
    the IPv4 address it carries).
    """
    if not isinstance(value, str) or not value or len(value) > 100:
        return None
    text = value.strip().split("%", 1)[0]  # the zone says nothing about place
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_public(value: Any) -> bool:
    """True for a valid, globally routable unicast address (an address or its text)."""
    addr = value if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)) \
        else parse(value)
    if addr is None:
        return False
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
        or (addr.version == 6 and addr.is_site_local)
        or not addr.is_global  # also 100.64.0.0/10 (carrier-grade NAT)
    )


def network_of(value: Any) -> IPNetwork | None:
    """The /24 (IPv4) or /48 (IPv6) holding an address: anonymised ones fall in it too."""
    addr = parse(value)
    if addr is None:
        return None
    prefix = IPV4_PREFIX if addr.version == 4 else IPV6_PREFIX
    return ipaddress.ip_network((addr, prefix), strict=False)


def anonymize(value: str | None) -> str | None:
    """Truncate an address before storage: IPv4 keeps its /24, IPv6 its /48.

    ``"81.2.69.160"`` -> ``"81.2.69.0"``; ``"2001:67c:2e8:22::c100:68b"`` ->
    ``"2001:67c:2e8::"``; ``"::ffff:1.2.3.4"`` -> ``"1.2.3.0"``. Zone ids are
    dropped; anything that is not an address gives None.
    """
    network = network_of(value)
    return None if network is None else str(network.network_address)


def clean(value: str | None) -> str | None:
    """An address as stored: no zone id, IPv4-mapped IPv6 as IPv4; None if not one."""
    addr = parse(value)
    return None if addr is None else str(addr)
