"""Refresh the IP range files from operators' published lists.

    manage.py leadpixel_update_ranges \
        --apple https://mask-api.icloud.com/egress-ip-ranges.csv \
        --google https://www.gstatic.com/ipranges/goog.json \
        --microsoft "https://endpoints.office.com/endpoints/worldwide?clientrequestid=<uuid>" \
        --plain mimecast /path/to/mimecast-cidrs.txt

``--plain NAME SOURCE`` (repeatable) refreshes any shipped plain-list range file
(``data/ranges/NAME.txt``: mimecast, proofpoint, barracuda, ...) from a list of one CIDR per
line; the written file keeps the packaged file's header with a new retrieval date.

Each source may be a local path or an http(s) URL. Every input is downloaded and parsed
before anything is written, so a bad input leaves the existing files intact. Files are
written atomically (temporary file, then ``os.replace``) into ``--output`` or
``LEADPIXEL["RANGES_DIR"]``, where they override the packaged files of the same name.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_leadpixel import ranges

from ...conf import app_settings
from ..progress import counted

MAX_BYTES = 64 * 1024 * 1024  # Apple's CSV is tens of MB; anything far larger is wrong
TIMEOUT = 60  # seconds per download

# option -> (file name, class, operator, parser, notes)
SOURCES: dict[str, tuple[str, str, str, Callable[[str], list[str]], str]] = {
    "apple": (
        "apple_relay.txt",
        ranges.APPLE_RELAY,
        "Apple",
        ranges.parse_apple_csv,
        "iCloud Private Relay egress (Apple MPP); collapsed, geo columns dropped",
    ),
    "google": (
        "google.txt",
        ranges.GOOGLE,
        "Google",
        ranges.parse_google_json,
        "supporting evidence only; never a machine verdict on the address alone",
    ),
    "microsoft": (
        "microsoft_eop.txt",
        ranges.SCANNER,
        "Microsoft",
        ranges.parse_microsoft_json,
        "Exchange Online Protection sets (*.mail.protection.outlook.com) only; applied to clicks",
    ),
}


PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _plain_header(packaged_text: str, *, source: str, retrieved: str) -> list[str]:
    """The packaged file's leading comment block (up to its first blank or data line), with
    today's retrieval date and a note of where the refresh came from. The original
    ``# source:`` is kept: it says whose list this is."""
    lines: list[str] = []
    for line in packaged_text.splitlines():
        if not line.startswith("#"):
            break
        key = line[1:].partition(":")[0].strip().lower()
        if key == "retrieved":
            line = f"# retrieved: {retrieved}"
        elif key == "refreshed-from":
            continue  # replaced below
        lines.append(line)
    if not any(line[1:].partition(":")[0].strip().lower() == "retrieved" for line in lines):
        lines.append(f"# retrieved: {retrieved}")
    where = " ".join(source.split())
    lines.append(f"# refreshed-from: {where} (manage.py leadpixel_update_ranges --plain)")
    return lines


def _read(source: str) -> str:
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"User-Agent": "django-leadpixel"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            data = response.read(MAX_BYTES + 1)
    else:
        with open(source, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    return data.decode("utf-8-sig")


def _collapse(networks: list[str]) -> list[str]:
    v4 = [ipaddress.IPv4Network(n) for n in networks if ":" not in n]
    v6 = [ipaddress.IPv6Network(n) for n in networks if ":" in n]
    out = [str(n) for n in ipaddress.collapse_addresses(v4)]
    out += [str(n) for n in ipaddress.collapse_addresses(v6)]
    return out


def _data_file_mode() -> int:
    """0o666 less the process umask (0644 with the usual 022): what ``open()`` would
    give a new file. ``mkstemp`` makes its file 0600, right for secrets, not for
    range lists other processes (the web server's user) must read."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, _data_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Command(BaseCommand):
    help = (
        "Download or read published IP ranges (Apple, Google, Microsoft, or any shipped "
        "plain-list file with --plain) into RANGES_DIR."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--apple",
            metavar="PATH_OR_URL",
            help="Apple egress-ip-ranges.csv (prefix,country,region,city,)",
        )
        parser.add_argument(
            "--google", metavar="PATH_OR_URL", help='Google range JSON ({"prefixes": [...]})'
        )
        parser.add_argument(
            "--microsoft", metavar="PATH_OR_URL", help="Microsoft 365 endpoints JSON (worldwide)"
        )
        parser.add_argument(
            "--plain",
            nargs=2,
            action="append",
            metavar=("NAME", "PATH_OR_URL"),
            help="Refresh the shipped plain-list file data/ranges/NAME.txt (one CIDR per line); "
            "repeatable",
        )
        parser.add_argument(
            "--output", metavar="DIR", help='Directory to write (default: LEADPIXEL["RANGES_DIR"])'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = options.get("output")
        if not output:
            output = app_settings.RANGES_DIR
        if not output:
            raise CommandError(
                'No output directory: pass --output DIR or set LEADPIXEL["RANGES_DIR"].'
            )
        out_dir = Path(output)
        chosen = [(name, options[name]) for name in SOURCES if options.get(name)]
        plain = [tuple(pair) for pair in options.get("plain") or []]
        if not chosen and not plain:
            raise CommandError(
                "Nothing to do: give at least one of --apple, --google, --microsoft, --plain."
            )
        today = datetime.now(timezone.utc).date().isoformat()
        prepared: list[tuple[Path, str, int, str]] = []
        for name, source in chosen:  # read and check everything before writing anything
            filename, kind, operator, parser, notes = SOURCES[name]
            try:
                networks = _collapse(parser(_read(source)))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"--{name} {source}: {exc}") from exc
            if not networks:
                raise CommandError(f"--{name} {source}: no networks found; nothing written.")
            text = ranges.format_file(
                networks, kind=kind, operator=operator, source=source, retrieved=today, notes=notes
            )
            prepared.append((out_dir / filename, text, len(networks), name))

        special = {SOURCES[name][0] for name in SOURCES}
        for name, source in plain:
            label = f"--plain {name}"
            if not PLAIN_NAME.match(name or ""):
                raise CommandError(f"{label}: not a range file name (letters, digits, _ and -).")
            packaged = ranges.PACKAGED_DIR / f"{name}.txt"
            if not packaged.is_file():
                known = sorted(p.stem for p in ranges.PACKAGED_DIR.glob("*.txt"))
                raise CommandError(
                    f"{label}: no shipped range file {name}.txt (shipped: {', '.join(known)})."
                )
            if f"{name}.txt" in special:
                self.stderr.write(
                    f"{label}: {name}.txt also has a dedicated option; writing it as a plain list."
                )
            try:
                networks = _collapse(ranges.parse_plain(_read(source)))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"{label} {source}: {exc}; nothing written.") from exc
            if not networks:
                raise CommandError(f"{label} {source}: no networks found; nothing written.")
            header = _plain_header(
                packaged.read_text(encoding="utf-8"), source=source, retrieved=today
            )
            text = "\n".join([*header, *networks]) + "\n"
            prepared.append((out_dir / f"{name}.txt", text, len(networks), label.lstrip("-")))

        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, no permission
            raise CommandError(f"Output directory {out_dir} cannot be created: {exc}") from exc
        for path, text, count, name in prepared:
            try:
                _write_atomic(path, text)
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc}") from exc
            self.stdout.write(f"{name}: {counted(count, 'network', 'networks')} -> {path}")
        ranges.default_table.cache_clear()
        ranges.default_asn_table.cache_clear()
