"""IP range tables: published proxy, relay and scanner networks.

Pure (stdlib only). ``RangeTable`` answers "which published network holds this
address?" with a binary search over sorted integer interval starts, one table per
address family, built once. CIDR blocks are either nested or disjoint, so the
most specific block that holds an address is found by walking from the last
start <= address up through precomputed parent links (one or two steps).

Shipped files live in ``django_leadpixel/data/ranges/``: one CIDR per line with a
``#`` header that records the source, the retrieval date and two keys the loader
reads, ``# class: ...`` and ``# operator: ...``. ``LEADPIXEL["RANGES_DIR"]``
holds refreshed copies (``manage.py leadpixel_update_ranges``); a file there
replaces the packaged file of the same name, the others stay in use.

``AsnTable`` answers the same question for autonomous system numbers (a mail-security
vendor's network, or a cloud/hosting provider's), from ``django_leadpixel/data/asns/``:
one ASN per line (``AS16509`` or ``16509``, optionally followed by an operator name),
with the same header. Overrides live in ``RANGES_DIR/asns/``. A network is evidence,
not a verdict: the classifier weighs it on clicks only.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings

from .addresses import IPAddress
from .addresses import parse as parse_ip
from .conf import app_settings

__all__ = [
    "RangeEntry",
    "RangeTable",
    "PACKAGED_DIR",
    "parse_ip",
    "parse_plain",
    "parse_apple_csv",
    "parse_google_json",
    "parse_microsoft_json",
    "read_header",
    "load_file",
    "load_dir",
    "default_table",
    "format_file",
    "AsnTable",
    "PACKAGED_ASN_DIR",
    "parse_asn",
    "parse_asn_list",
    "load_asn_file",
    "load_asn_dir",
    "default_asn_table",
]

PACKAGED_DIR = Path(__file__).resolve().parent / "data" / "ranges"
PACKAGED_ASN_DIR = Path(__file__).resolve().parent / "data" / "asns"
ASN_SUBDIR = "asns"  # RANGES_DIR/asns/ holds ASN files that replace packaged ones

# Range classes the classifier understands.
APPLE_RELAY = "apple_relay"
GOOGLE = "google"
SCANNER = "scanner"
# ASN classes: SCANNER (a mail-security vendor's network) or CLOUD (hosting/cloud).
CLOUD = "cloud"
ASN_MAX = 2**32 - 1  # 4-byte ASNs (RFC 6793)


class RangeEntry(NamedTuple):
    network: str  # canonical CIDR text
    operator: str  # "Apple", "Microsoft", ...
    kind: str  # "apple_relay", "google", "scanner", ...




class _Family:
    """Sorted, laminar intervals of one address family."""

    __slots__ = ("starts", "ends", "parents", "entries")

    def __init__(self, items: list[tuple[int, int, RangeEntry]]) -> None:
        # Parents before children: by start, then widest first.
        items.sort(key=lambda t: (t[0], -t[1]))
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.parents: list[int] = []
        self.entries: list[RangeEntry] = []
        stack: list[int] = []
        for start, end, entry in items:
            if self.starts and self.starts[-1] == start and self.ends[-1] == end:
                continue  # the same network twice: the first one wins
            while stack and self.ends[stack[-1]] < start:
                stack.pop()
            self.parents.append(stack[-1] if stack else -1)
            stack.append(len(self.starts))
            self.starts.append(start)
            self.ends.append(end)
            self.entries.append(entry)

    def lookup(self, value: int) -> RangeEntry | None:
        i = bisect_right(self.starts, value) - 1
        ends, parents = self.ends, self.parents
        while i >= 0:
            if ends[i] >= value:
                return self.entries[i]
            i = parents[i]
        return None


class RangeTable:
    """Published networks, looked up by address.

    Built from ``(network, operator, kind)`` triples; ``network`` is a CIDR string
    or an ``ipaddress`` network. Invalid networks raise ``ValueError``.
    """

    _CACHE_SIZE = 8192

    def __init__(self, entries: Iterable[tuple[Any, str, str]] = ()) -> None:
        v4: list[tuple[int, int, RangeEntry]] = []
        v6: list[tuple[int, int, RangeEntry]] = []
        for network, operator, kind in entries:
            net = ipaddress.ip_network(network, strict=False)
            entry = RangeEntry(str(net), operator, kind)
            item = (int(net.network_address), int(net.broadcast_address), entry)
            (v4 if net.version == 4 else v6).append(item)
        self._v4 = _Family(v4)
        self._v6 = _Family(v6)
        self._cache: dict[str, RangeEntry | None] = {}

    def __len__(self) -> int:
        return len(self._v4.starts) + len(self._v6.starts)

    def __iter__(self) -> Iterator[RangeEntry]:
        yield from self._v4.entries
        yield from self._v6.entries

    def lookup(self, ip: object) -> RangeEntry | None:
        """The most specific entry holding ``ip``; None if none or not an address."""
        if isinstance(ip, str):
            cache = self._cache
            try:
                return cache[ip]
            except KeyError:
                pass
            result = self._lookup_addr(parse_ip(ip))
            if len(cache) >= self._CACHE_SIZE:
                cache.clear()  # bounded; clearing is cheaper than LRU bookkeeping
            cache[ip] = result
            return result
        if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            return self._lookup_addr(ip)
        return None

    def _lookup_addr(self, addr: IPAddress | None) -> RangeEntry | None:
        if addr is None:
            return None
        family = self._v4 if addr.version == 4 else self._v6
        return family.lookup(int(addr))


# --- parsers for operator-published formats ------------------------------------------------
# Each returns a list of canonical CIDR strings and raises ValueError on malformed input, so a
# bad download never replaces a good file.


def _net(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


def parse_plain(text: str) -> list[str]:
    """One CIDR (or bare address) per line; ``#`` comments and blank lines ignored."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(_net(line))
        except ValueError:
            raise ValueError(f"line {lineno}: not a network: {line[:60]!r}") from None
    return out


def parse_apple_csv(text: str) -> list[str]:
    """Apple's ``egress-ip-ranges.csv``: ``prefix,country,region,city,`` rows."""
    out = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            out.append(_net(row[0]))
        except ValueError:
            raise ValueError(f"row {lineno}: not a network: {row[0][:60]!r}") from None
    return out


def parse_google_json(text: str) -> list[str]:
    """Google's range JSON (goog.json, user-triggered-fetchers*.json, ...)."""
    try:
        data = json.loads(text)
        prefixes = data["prefixes"]
    except (ValueError, TypeError, KeyError):
        raise ValueError('expected a JSON object with a "prefixes" list') from None
    if not isinstance(prefixes, list):
        raise ValueError('"prefixes" is not a list')
    out = []
    for item in prefixes:
        if not isinstance(item, dict):
            raise ValueError("a prefix entry is not an object")
        value = item.get("ipv4Prefix") or item.get("ipv6Prefix")
        if not isinstance(value, str):
            raise ValueError("a prefix entry has no ipv4Prefix/ipv6Prefix")
        out.append(_net(value))
    return out


def parse_microsoft_json(text: str, *, eop_only: bool = True) -> list[str]:
    """Microsoft 365 endpoints JSON (a list of endpoint sets with ``"ips"``).

    With ``eop_only`` (the default) only the sets for ``*.mail.protection.outlook.com``
    are kept: those are Exchange Online Protection, where Safe Links scanning runs.
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(data, list):
        raise ValueError("expected a JSON list of endpoint sets")
    out = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("an endpoint set is not an object")
        if eop_only:
            urls = item.get("urls") or []
            if not any(isinstance(u, str) and "mail.protection.outlook.com" in u for u in urls):
                continue
        for value in item.get("ips") or []:
            if not isinstance(value, str):
                raise ValueError("an ips entry is not a string")
            out.append(_net(value))
    return out


# --- files ---------------------------------------------------------------------------------


def read_header(text: str) -> dict[str, str]:
    """``# key: value`` lines of the leading comment block."""
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        key, sep, value = line[1:].partition(":")
        key = key.strip().lower()
        if sep and key and " " not in key and key not in meta:
            meta[key] = value.strip()
    return meta


def load_file(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """Entries of one range file; its header must name ``class`` and ``operator``."""
    text = Path(path).read_text(encoding="utf-8")
    meta = read_header(text)
    kind, operator = meta.get("class", ""), meta.get("operator", "")
    if not kind:
        raise ValueError(f"{path}: header has no '# class:' line")
    return [(net, operator, kind) for net in parse_plain(text)]


def _range_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in sorted(directory.glob("*.txt")) if p.is_file()}


def load_dir(*directories: str | os.PathLike[str] | None) -> RangeTable:
    """A table from the ``*.txt`` files of the given directories.

    A later directory's file replaces an earlier one's of the same name.
    """
    files: dict[str, Path] = {}
    for directory in directories:
        if directory:
            files.update(_range_files(Path(directory)))
    entries: list[tuple[str, str, str]] = []
    for path in files.values():
        entries.extend(load_file(path))
    return RangeTable(entries)


def _configured_dir() -> str | None:
    # classify must also work where Django's settings are not configured (scripts).
    if not settings.configured:
        return None
    value = app_settings.RANGES_DIR
    return os.fspath(value) if value else None


@lru_cache(maxsize=1)
def default_table() -> RangeTable:
    """Packaged ranges, overlaid by ``LEADPIXEL["RANGES_DIR"]`` when set. Built once.

    Call ``default_table.cache_clear()`` after refreshing the files.
    """
    return load_dir(PACKAGED_DIR, _configured_dir())


def format_file(
    networks: Iterable[str],
    *,
    kind: str,
    operator: str,
    source: str,
    retrieved: str,
    notes: str = "",
) -> str:
    """Text of a range file with the header the loader reads."""
    lines = [
        f"# {operator} ranges written by manage.py leadpixel_update_ranges",
        f"# class: {kind}",
        f"# operator: {operator}",
        f"# source: {source}",
        f"# retrieved: {retrieved}",
    ]
    if notes:
        lines.append(f"# notes: {notes}")
    lines.extend(networks)
    return "\n".join(lines) + "\n"


# --- autonomous systems ---------------------------------------------------------------------


def parse_asn(value: object) -> int | None:
    """An ASN from ``AS16509``/``as16509``/``16509`` text or an int; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text[:2].lower() == "as":
            text = text[2:]
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            return None
        number = int(text)
    else:
        return None
    return number if 0 < number <= ASN_MAX else None


def parse_asn_list(text: str) -> list[tuple[int, str]]:
    """``(asn, operator)`` pairs: one ASN per line, optionally followed by whitespace and an
    operator name (empty when absent); ``#`` comments and blank lines ignored. Raises
    ValueError naming the line of anything that is not an ASN."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        token, *rest = line.split(None, 1)
        asn = parse_asn(token)
        if asn is None:
            raise ValueError(f"line {lineno}: not an ASN: {line[:60]!r}")
        out.append((asn, " ".join(rest[0].split()) if rest else ""))
    return out


class AsnTable:
    """Autonomous systems of mail-security vendors and cloud providers, looked up by number.

    Built from ``(asn, operator, kind)`` triples; an ASN listed twice keeps its first entry.
    """

    def __init__(self, entries: Iterable[tuple[int, str, str]] = ()) -> None:
        self._entries: dict[int, RangeEntry] = {}
        for asn, operator, kind in entries:
            number = parse_asn(asn)
            if number is None:
                raise ValueError(f"not an ASN: {asn!r}")
            self._entries.setdefault(number, RangeEntry(f"AS{number}", operator, kind))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RangeEntry]:
        return iter(self._entries.values())

    def lookup(self, asn: object) -> RangeEntry | None:
        """The entry for an integer ASN; None for anything else (None, str, bool, negative)."""
        if not isinstance(asn, int) or isinstance(asn, bool):
            return None
        return self._entries.get(asn)


def load_asn_file(path: str | os.PathLike[str]) -> list[tuple[int, str, str]]:
    """Entries of one ASN file; its header must name ``class``. A per-line operator name
    overrides the header's ``operator``."""
    text = Path(path).read_text(encoding="utf-8")
    meta = read_header(text)
    kind, operator = meta.get("class", ""), meta.get("operator", "")
    if not kind:
        raise ValueError(f"{path}: header has no '# class:' line")
    try:
        pairs = parse_asn_list(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return [(asn, name or operator, kind) for asn, name in pairs]


def load_asn_dir(*directories: str | os.PathLike[str] | None) -> AsnTable:
    """A table from the ``*.txt`` files of the given directories.

    A later directory's file replaces an earlier one's of the same name; files are read in
    name order, so an ASN listed in two files keeps the entry of the first.
    """
    files: dict[str, Path] = {}
    for directory in directories:
        if directory:
            files.update(_range_files(Path(directory)))
    entries: list[tuple[int, str, str]] = []
    for name in sorted(files):
        entries.extend(load_asn_file(files[name]))
    return AsnTable(entries)


@lru_cache(maxsize=1)
def default_asn_table() -> AsnTable:
    """Packaged ASN files, overlaid by ``LEADPIXEL["RANGES_DIR"]/asns/`` when set. Built once.

    Call ``default_asn_table.cache_clear()`` after refreshing the files.
    """
    configured = _configured_dir()
    return load_asn_dir(
        PACKAGED_ASN_DIR, os.path.join(configured, ASN_SUBDIR) if configured else None
    )
