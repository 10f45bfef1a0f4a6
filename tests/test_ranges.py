"""IP range tables, parsers of published formats, packaged data and the update command."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_leadpixel import ranges
from django_leadpixel.ranges import RangeTable, default_table, load_dir, parse_ip

FIXTURES = Path(__file__).parent / "fixtures" / "ranges"


@pytest.fixture
def table() -> RangeTable:
    return RangeTable(
        [
            ("10.0.0.0/8", "Outer", "scanner"),
            ("10.1.0.0/16", "Inner", "google"),
            ("10.1.2.0/24", "Innermost", "apple_relay"),
            ("10.3.0.0/16", "Sibling", "scanner"),
            ("2001:db8::/32", "Doc6", "scanner"),
            ("2001:db8:1::/48", "Doc6inner", "apple_relay"),
            ("192.0.2.7", "Host", "scanner"),
        ]
    )


@pytest.mark.parametrize(
    "ip, operator",
    [
        ("10.0.0.1", "Outer"),
        ("10.1.0.1", "Inner"),
        ("10.1.2.3", "Innermost"),
        ("10.1.3.0", "Inner"),  # after a nested block: back to the parent
        ("10.2.0.0", "Outer"),
        ("10.3.255.255", "Sibling"),
        ("10.255.255.255", "Outer"),
        ("11.0.0.0", None),
        ("9.255.255.255", None),
        ("192.0.2.7", "Host"),
        ("192.0.2.8", None),
        ("2001:db8::1", "Doc6"),
        ("2001:db8:1::99", "Doc6inner"),
        ("2001:db9::", None),
        ("::ffff:10.1.2.3", "Innermost"),  # IPv4-mapped IPv6
        ("::ffff:0a01:0203", "Innermost"),
        ("2001:db8:1::1%eth0", "Doc6inner"),  # zone id
        ("  10.1.2.3 ", "Innermost"),
        ("[2001:db8::1]", "Doc6"),
    ],
)
def test_lookup(table: RangeTable, ip: str, operator: str | None) -> None:
    entry = table.lookup(ip)
    assert (entry.operator if entry else None) == operator
    assert table.lookup(ip) == entry  # cached answer is the same


@pytest.mark.parametrize(
    "ip",
    [
        None,
        "",
        "garbage",
        "10.1.2",
        "10.1.2.3.4",
        "999.1.1.1",
        "::g",
        "x" * 5000,
        42,
        "10.1.2.3\x00",
        "\ud800",
        "<script>",
    ],
)
def test_lookup_garbage(table: RangeTable, ip: object) -> None:
    assert table.lookup(ip) is None


def test_lookup_accepts_address_objects(table: RangeTable) -> None:
    assert table.lookup(ipaddress.ip_address("10.1.2.3")).operator == "Innermost"
    assert table.lookup(ipaddress.ip_address("::ffff:10.1.2.3")).operator == "Innermost"


def test_lookup_cache_is_bounded(table: RangeTable) -> None:
    for i in range(RangeTable._CACHE_SIZE + 10):
        table.lookup(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
    assert len(table._cache) <= RangeTable._CACHE_SIZE


def test_duplicates_and_len() -> None:
    t = RangeTable([("10.0.0.0/8", "A", "x"), ("10.0.0.0/8", "B", "x"), ("10.0.0.1/8", "C", "x")])
    assert len(t) == 1
    assert t.lookup("10.9.9.9").operator == "A"
    assert [e.network for e in t] == ["10.0.0.0/8"]


def test_invalid_network_raises() -> None:
    with pytest.raises(ValueError):
        RangeTable([("not-a-net", "A", "x")])


def test_parse_ip() -> None:
    assert str(parse_ip("::ffff:1.2.3.4")) == "1.2.3.4"
    assert str(parse_ip("fe80::1%en0")) == "fe80::1"
    assert parse_ip("nope") is None
    assert parse_ip(None) is None


def test_parse_plain() -> None:
    nets = ranges.parse_plain((FIXTURES / "plain.txt").read_text())
    assert nets == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]
    with pytest.raises(ValueError, match="line 1"):
        ranges.parse_plain("nope\n")


def test_parse_apple_csv() -> None:
    nets = ranges.parse_apple_csv((FIXTURES / "egress-ip-ranges.csv").read_text())
    assert nets[:3] == ["172.224.226.0/27", "172.224.226.64/28", "104.28.28.0/26"]
    assert "2a02:26f7:b3c0:4000::/64" in nets
    with pytest.raises(ValueError):
        ranges.parse_apple_csv((FIXTURES / "bad-egress.csv").read_text())


def test_parse_google_json() -> None:
    nets = ranges.parse_google_json((FIXTURES / "goog.json").read_text())
    assert nets == ["66.249.80.0/20", "74.125.0.0/16", "2001:4860::/32"]
    for bad in [
        "[]",
        "{}",
        "not json",
        '{"prefixes": [1]}',
        '{"prefixes": [{}]}',
        (FIXTURES / "bad-goog.json").read_text(),
    ]:
        with pytest.raises(ValueError):
            ranges.parse_google_json(bad)


def test_parse_microsoft_json() -> None:
    text = (FIXTURES / "endpoints-worldwide.json").read_text()
    eop = ranges.parse_microsoft_json(text)
    assert eop == [
        "40.92.0.0/15",
        "40.107.0.0/16",
        "52.100.0.0/14",
        "104.47.0.0/17",
        "2a01:111:f400::/48",
        "2a01:111:f403::/48",
    ]
    everything = ranges.parse_microsoft_json(text, eop_only=False)
    assert "40.96.0.0/13" in everything and len(everything) == 9
    for bad in [(FIXTURES / "bad-endpoints.json").read_text(), "nope", "[1]"]:
        with pytest.raises(ValueError):
            ranges.parse_microsoft_json(bad)


def test_load_file_reads_header() -> None:
    entries = ranges.load_file(FIXTURES / "plain.txt")
    assert entries[0] == ("192.0.2.0/24", "Example", "scanner")


def test_load_file_without_class_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("# operator: X\n192.0.2.0/24\n")
    with pytest.raises(ValueError, match="class"):
        ranges.load_file(path)


def test_packaged_files_have_headers_and_load() -> None:
    files = sorted(ranges.PACKAGED_DIR.glob("*.txt"))
    assert {f.name for f in files} >= {
        "apple_relay.txt",
        "google.txt",
        "microsoft_eop.txt",
        "barracuda.txt",
    }
    total = 0
    for path in files:
        text = path.read_text()
        meta = ranges.read_header(text)
        for key in ("class", "operator", "source", "retrieved"):
            assert meta.get(key), f"{path.name}: header lacks {key}"
        total += path.stat().st_size
    assert total < 1_000_000
    assert (ranges.PACKAGED_DIR / "SOURCES.md").exists()


@pytest.mark.parametrize(
    "ip, kind, operator",
    [
        ("172.225.5.1", "apple_relay", "Apple"),
        ("104.28.30.5", "apple_relay", "Apple"),
        ("146.75.128.1", "apple_relay", "Apple"),
        ("40.107.22.5", "scanner", "Microsoft"),
        ("2a01:111:f403::1", "scanner", "Microsoft"),
        ("209.222.82.10", "scanner", "Barracuda"),
        ("66.249.82.4", "google", "Google"),
    ],
)
def test_packaged_table(ip: str, kind: str, operator: str) -> None:
    entry = load_dir(ranges.PACKAGED_DIR).lookup(ip)
    assert entry is not None and (entry.kind, entry.operator) == (kind, operator)


def test_packaged_table_misses_documentation_ranges() -> None:
    table = load_dir(ranges.PACKAGED_DIR)
    for ip in ("192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "17.0.0.1"):
        assert table.lookup(ip) is None


def test_default_table_overlays_ranges_dir(settings, tmp_path: Path) -> None:
    (tmp_path / "barracuda.txt").write_text("# class: scanner\n# operator: Mine\n192.0.2.0/24\n")
    settings.LEADPIXEL = {**getattr(settings, "LEADPIXEL", {}), "RANGES_DIR": str(tmp_path)}
    default_table.cache_clear()
    try:
        table = default_table()
        assert table.lookup("192.0.2.1").operator == "Mine"  # overridden file
        assert table.lookup("209.222.82.10") is None  # the packaged barracuda.txt is replaced
        assert table.lookup("172.225.5.1").operator == "Apple"  # other packaged files stay
    finally:
        default_table.cache_clear()


# --- management command --------------------------------------------------------------------


def _run(*args: str) -> str:
    out = StringIO()
    call_command("leadpixel_update_ranges", *args, stdout=out)
    return out.getvalue()


def test_command_writes_files(tmp_path: Path) -> None:
    out = _run(
        "--apple",
        str(FIXTURES / "egress-ip-ranges.csv"),
        "--google",
        str(FIXTURES / "goog.json"),
        "--microsoft",
        str(FIXTURES / "endpoints-worldwide.json"),
        "--output",
        str(tmp_path),
    )
    assert "apple: 4 networks" in out  # the two /64s and the 2 London blocks collapse
    assert "google: 3 networks" in out
    assert "microsoft: 6 networks" in out
    apple = (tmp_path / "apple_relay.txt").read_text()
    meta = ranges.read_header(apple)
    assert meta["class"] == "apple_relay" and meta["operator"] == "Apple"
    assert meta["source"].endswith("egress-ip-ranges.csv") and meta["retrieved"]
    assert "2a02:26f7:b3c0:4000::/63" in apple
    table = load_dir(tmp_path)
    assert table.lookup("172.224.226.70").kind == "apple_relay"
    assert table.lookup("40.107.1.1").operator == "Microsoft"
    assert table.lookup("40.96.0.1") is None  # only EOP sets are kept
    assert not list(tmp_path.glob(".*.tmp"))


def test_command_uses_ranges_dir_setting(settings, tmp_path: Path) -> None:
    settings.LEADPIXEL = {**getattr(settings, "LEADPIXEL", {}), "RANGES_DIR": str(tmp_path)}
    try:
        _run("--google", str(FIXTURES / "goog.json"))
        assert (tmp_path / "google.txt").exists()
    finally:
        default_table.cache_clear()


def test_command_without_output_fails(settings) -> None:
    settings.LEADPIXEL = {**getattr(settings, "LEADPIXEL", {}), "RANGES_DIR": None}
    with pytest.raises(CommandError, match="RANGES_DIR"):
        _run("--google", str(FIXTURES / "goog.json"))


def test_command_needs_a_source(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Nothing to do"):
        _run("--output", str(tmp_path))


@pytest.mark.parametrize(
    "option, name",
    [
        ("--apple", "bad-egress.csv"),
        ("--google", "bad-goog.json"),
        ("--microsoft", "bad-endpoints.json"),
        ("--google", "does-not-exist.json"),
    ],
)
def test_command_bad_input_leaves_files_intact(tmp_path: Path, option: str, name: str) -> None:
    before = {
        "apple_relay.txt": "# class: apple_relay\n172.224.226.0/27\n",
        "google.txt": "# class: google\n66.249.80.0/20\n",
        "microsoft_eop.txt": "# class: scanner\n40.92.0.0/15\n",
    }
    for fname, text in before.items():
        (tmp_path / fname).write_text(text)
    with pytest.raises(CommandError, match=option.lstrip("-")):
        # a good source next to the bad one is not written either
        _run(
            "--apple",
            str(FIXTURES / "egress-ip-ranges.csv"),
            option,
            str(FIXTURES / name),
            "--output",
            str(tmp_path),
        )
    for fname, text in before.items():
        assert (tmp_path / fname).read_text() == text
    assert not list(tmp_path.glob(".*.tmp"))


def test_command_empty_source_fails(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CommandError, match="no networks"):
        _run("--apple", str(tmp_path / "empty.csv"), "--output", str(tmp_path))


# --- shipped vendor ranges -----------------------------------------------------------------

PACKAGED_RANGE_FILES = sorted(ranges.PACKAGED_DIR.glob("*.txt"))


@pytest.mark.parametrize("path", PACKAGED_RANGE_FILES, ids=lambda p: p.name)
def test_every_packaged_range_file_parses_with_a_full_header(path: Path) -> None:
    entries = ranges.load_file(path)
    assert entries, path.name
    meta = ranges.read_header(path.read_text())
    for key in ("class", "operator", "source", "retrieved", "licence", "notes"):
        assert meta.get(key), f"{path.name}: header lacks {key}"
    assert meta["class"] in {"apple_relay", "google", "scanner"}
    assert len(meta["retrieved"]) == 10 and meta["retrieved"][4] == "-"


def test_new_vendor_files_are_shipped() -> None:
    names = {p.name for p in PACKAGED_RANGE_FILES}
    assert names >= {"mimecast.txt", "proofpoint.txt", "microsoft_observed.txt"}
    listed = (ranges.PACKAGED_DIR / "SOURCES.md").read_text()
    for name in names:
        assert f"`{name}`" in listed, f"{name} missing from SOURCES.md"


def test_no_scanner_range_overlaps_google_or_apple_relay() -> None:
    protected = []
    scanner = []
    for path in PACKAGED_RANGE_FILES:
        for network, _operator, kind in ranges.load_file(path):
            net = ipaddress.ip_network(network)
            if kind in ("google", "apple_relay"):
                protected.append((net, path.name))
            elif kind == "scanner":
                scanner.append((net, path.name))
    assert scanner and protected
    clashes = [
        (str(a), fa, str(b), fb)
        for a, fa in scanner
        for b, fb in protected
        if a.version == b.version and a.overlaps(b)
    ]
    assert not clashes


@pytest.mark.parametrize(
    "ip, operator",
    [
        ("205.139.110.7", "Mimecast"),  # us._netblocks
        ("170.10.130.5", "Mimecast"),  # US allowlist /24
        ("41.74.196.1", "Mimecast"),  # za
        ("103.96.21.200", "Mimecast"),  # au
        ("170.10.145.9", "Mimecast"),  # ca
        ("51.163.158.1", "Mimecast"),  # de
        ("148.163.150.1", "Proofpoint"),
        ("67.231.152.10", "Proofpoint"),  # service network 67.231.144.0/20
        ("3.24.133.200", "Barracuda"),  # AU
        ("15.222.16.130", "Barracuda"),  # CA
        ("35.157.190.230", "Barracuda"),  # DE
        ("13.200.136.200", "Barracuda"),  # IN
        ("35.176.92.100", "Barracuda"),  # UK
        ("209.222.86.1", "Barracuda"),  # US
        ("40.94.89.21", "Microsoft"),  # observed Safe Links (gophish#2646)
    ],
)
def test_packaged_vendor_ranges(ip: str, operator: str) -> None:
    entry = load_dir(ranges.PACKAGED_DIR).lookup(ip)
    assert entry is not None and (entry.kind, entry.operator) == ("scanner", operator)


def test_vendor_ranges_stop_at_their_edges() -> None:
    table = load_dir(ranges.PACKAGED_DIR)
    # Azure (Safe Links was seen here too, laravel-passwordless-login#79) is not a scanner
    # range; neither is the rest of Microsoft's 40/8 nor AWS next to Barracuda's blocks.
    for ip in ("20.72.100.79", "40.95.0.1", "40.96.0.1", "3.24.133.1", "168.90.91.133"):
        assert table.lookup(ip) is None, ip


# --- autonomous systems --------------------------------------------------------------------

PACKAGED_ASN_FILES = sorted(ranges.PACKAGED_ASN_DIR.glob("*.txt"))


@pytest.mark.parametrize(
    "value, expected",
    [
        (16509, 16509),
        ("AS16509", 16509),
        ("as16509", 16509),
        (" 16509 ", 16509),
        (4294967295, 4294967295),
        (0, None),
        (-1, None),
        (4294967296, None),
        (True, None),
        (None, None),
        ("", None),
        ("AS", None),
        ("AS-1", None),
        ("16509.5", None),
        ("١٢٣", None),  # non-ASCII digits
        ("9" * 50, None),
        (16509.0, None),
        (["16509"], None),
    ],
)
def test_parse_asn(value: object, expected: int | None) -> None:
    assert ranges.parse_asn(value) == expected


def test_parse_asn_list() -> None:
    text = "# header\n# class: cloud\nAS16509   Amazon (AWS)   # comment\n14618\n\nas8075\tAzure\n"
    assert ranges.parse_asn_list(text) == [
        (16509, "Amazon (AWS)"),
        (14618, ""),
        (8075, "Azure"),
    ]
    with pytest.raises(ValueError, match="line 2"):
        ranges.parse_asn_list("AS1\n10.0.0.0/8\n")


def test_asn_table_lookup_and_hostile_input() -> None:
    table = ranges.AsnTable([(64500, "Example", "cloud"), ("AS64501", "Vendor", "scanner")])
    assert table.lookup(64500) == ranges.RangeEntry("AS64500", "Example", "cloud")
    assert table.lookup(64501).kind == "scanner"
    assert len(table) == 2 and {e.network for e in table} == {"AS64500", "AS64501"}
    for hostile in (None, "64500", "AS64500", -64500, 0, True, 64500.0, b"64500", [64500], 2**80):
        assert table.lookup(hostile) is None, hostile
    dup = ranges.AsnTable([(64500, "First", "scanner"), (64500, "Second", "cloud")])
    assert len(dup) == 1 and dup.lookup(64500).operator == "First"
    with pytest.raises(ValueError):
        ranges.AsnTable([("nope", "X", "cloud")])


def test_load_asn_file(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("# class: scanner\n# operator: Header Name\nAS64500\nAS64501 Line Name\n")
    assert ranges.load_asn_file(path) == [
        (64500, "Header Name", "scanner"),
        (64501, "Line Name", "scanner"),
    ]
    path.write_text("# operator: X\nAS64500\n")
    with pytest.raises(ValueError, match="class"):
        ranges.load_asn_file(path)
    path.write_text("# class: cloud\nAS64500\n192.0.2.0/24\n")
    with pytest.raises(ValueError, match="line 3"):
        ranges.load_asn_file(path)


@pytest.mark.parametrize("path", PACKAGED_ASN_FILES, ids=lambda p: p.name)
def test_every_packaged_asn_file_parses_with_a_full_header(path: Path) -> None:
    entries = ranges.load_asn_file(path)
    assert entries, path.name
    meta = ranges.read_header(path.read_text())
    for key in ("class", "operator", "source", "retrieved", "notes"):
        assert meta.get(key), f"{path.name}: header lacks {key}"
    assert meta["class"] in {"scanner", "cloud"}
    assert all(operator for _, operator, _ in entries)


def test_packaged_asn_files_are_listed_and_disjoint() -> None:
    names = {p.name for p in PACKAGED_ASN_FILES}
    assert names >= {"proofpoint.txt", "mimecast.txt", "cisco.txt", "cloud.txt"}
    listed = (ranges.PACKAGED_ASN_DIR / "SOURCES.md").read_text()
    seen: dict[int, str] = {}
    for path in PACKAGED_ASN_FILES:
        assert f"`{path.name}`" in listed
        for asn, _, _ in ranges.load_asn_file(path):
            assert asn not in seen, (asn, path.name, seen.get(asn))
            seen[asn] = path.name


@pytest.mark.parametrize(
    "asn, kind, operator",
    [
        (22843, "scanner", "Proofpoint"),
        (26211, "scanner", "Proofpoint"),
        (52129, "scanner", "Proofpoint"),
        (30031, "scanner", "Mimecast"),
        (60492, "scanner", "Mimecast"),
        (16417, "scanner", "Cisco"),
        (16509, "cloud", "Amazon (AWS)"),
        (14618, "cloud", "Amazon (AWS)"),
        (8075, "cloud", "Microsoft (Azure)"),  # cloud ONLY, never a scanner by itself
        (396982, "cloud", "Google Cloud"),
        (14061, "cloud", "DigitalOcean"),
        (24940, "cloud", "Hetzner"),
        (20473, "cloud", "Vultr (Choopa)"),
        (31898, "cloud", "Oracle Cloud"),
    ],
)
def test_packaged_asn_table(asn: int, kind: str, operator: str) -> None:
    entry = ranges.load_asn_dir(ranges.PACKAGED_ASN_DIR).lookup(asn)
    assert entry == ranges.RangeEntry(f"AS{asn}", operator, kind)


def test_packaged_asn_table_leaves_out_what_carries_people_or_gmail() -> None:
    table = ranges.load_asn_dir(ranges.PACKAGED_ASN_DIR)
    # AS15169: Gmail's image proxy and prefetcher; Akamai CDN / Cloudflare / Fastly carry
    # iCloud Private Relay; Cogent is transit; residential and mobile carriers.
    for asn in (15169, 36183, 20940, 13335, 54113, 174, 7922, 3320, 21928):
        assert table.lookup(asn) is None, asn
    assert table.lookup(8075).kind != "scanner"


def test_default_asn_table_is_built_once() -> None:
    ranges.default_asn_table.cache_clear()
    try:
        assert ranges.default_asn_table() is ranges.default_asn_table()
        assert ranges.default_asn_table().lookup(26211).operator == "Proofpoint"
    finally:
        ranges.default_asn_table.cache_clear()


def test_default_asn_table_overlays_ranges_dir(settings, tmp_path: Path) -> None:
    (tmp_path / "asns").mkdir()
    (tmp_path / "asns" / "cloud.txt").write_text(
        "# class: cloud\n# operator: Mine\nAS64500\nAS64501 Named\n"
    )
    settings.LEADPIXEL = {**getattr(settings, "LEADPIXEL", {}), "RANGES_DIR": str(tmp_path)}
    ranges.default_asn_table.cache_clear()
    default_table.cache_clear()
    try:
        table = ranges.default_asn_table()
        assert table.lookup(64500) == ranges.RangeEntry("AS64500", "Mine", "cloud")
        assert table.lookup(64501).operator == "Named"
        assert table.lookup(16509) is None  # the packaged cloud.txt is replaced
        assert table.lookup(26211).operator == "Proofpoint"  # other packaged files stay
        # the range loader does not read the asns/ subdirectory
        assert default_table().lookup("172.225.5.1").operator == "Apple"
    finally:
        ranges.default_asn_table.cache_clear()
        default_table.cache_clear()


# --- management command: --plain ------------------------------------------------------------


def test_command_plain_refreshes_a_shipped_list(tmp_path: Path) -> None:
    out = _run("--plain", "mimecast", str(FIXTURES / "plain-vendor.txt"), "--output", str(tmp_path))
    assert "plain mimecast: 3 networks" in out  # the two /24s collapse into a /23
    text = (tmp_path / "mimecast.txt").read_text()
    meta = ranges.read_header(text)
    packaged = ranges.read_header((ranges.PACKAGED_DIR / "mimecast.txt").read_text())
    assert (meta["class"], meta["operator"]) == ("scanner", "Mimecast")
    assert meta["source"] == packaged["source"]  # whose list it is stays recorded
    assert meta["retrieved"] == datetime.now(timezone.utc).date().isoformat()
    assert meta["refreshed-from"].startswith(str(FIXTURES / "plain-vendor.txt"))
    assert "205.139.110.0/23" in text and "203.0.113.9/32" in text
    table = load_dir(ranges.PACKAGED_DIR, tmp_path)
    assert table.lookup("205.139.111.1").operator == "Mimecast"
    assert table.lookup("2001:db8:100::1").kind == "scanner"
    assert table.lookup("170.10.145.9") is None  # the packaged mimecast.txt is replaced
    assert table.lookup("148.163.150.1").operator == "Proofpoint"
    assert not list(tmp_path.glob(".*.tmp"))


def test_command_plain_is_repeatable_and_rewrites_its_own_output(tmp_path: Path) -> None:
    _run(
        "--plain",
        "barracuda",
        str(FIXTURES / "plain-vendor.txt"),
        "--plain",
        "proofpoint",
        str(FIXTURES / "plain.txt"),
        "--output",
        str(tmp_path),
    )
    assert (tmp_path / "barracuda.txt").exists() and (tmp_path / "proofpoint.txt").exists()
    # refreshing again from the refreshed file keeps one header, one refreshed-from line
    _run("--plain", "barracuda", str(tmp_path / "barracuda.txt"), "--output", str(tmp_path))
    text = (tmp_path / "barracuda.txt").read_text()
    assert text.count("# refreshed-from:") == 1 and text.count("# retrieved:") == 1


@pytest.mark.parametrize(
    "name, source, message",
    [
        ("mimecast", "plain-bad.txt", r"--plain mimecast .*line 2: not a network"),
        ("mimecast", "does-not-exist.txt", r"--plain mimecast"),
        ("nosuchvendor", "plain-vendor.txt", r"no shipped range file nosuchvendor\.txt"),
        ("../../etc/passwd", "plain-vendor.txt", r"not a range file name"),
        ("Mimecast", "plain-vendor.txt", r"not a range file name"),
    ],
)
def test_command_plain_bad_input_writes_nothing(
    tmp_path: Path, name: str, source: str, message: str
) -> None:
    before = "# class: scanner\n# operator: Mimecast\n205.139.110.0/24\n"
    (tmp_path / "mimecast.txt").write_text(before)
    with pytest.raises(CommandError, match=message):
        # a good source next to the bad one is not written either
        _run(
            "--google",
            str(FIXTURES / "goog.json"),
            "--plain",
            name,
            str(FIXTURES / source),
            "--output",
            str(tmp_path),
        )
    assert (tmp_path / "mimecast.txt").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mimecast.txt"]


def test_command_plain_empty_list_fails(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing here\n")
    with pytest.raises(CommandError, match="no networks"):
        _run("--plain", "proofpoint", str(tmp_path / "empty.txt"), "--output", str(tmp_path))
    assert not (tmp_path / "proofpoint.txt").exists()


def test_command_plain_clears_the_caches(settings, tmp_path: Path) -> None:
    settings.LEADPIXEL = {**getattr(settings, "LEADPIXEL", {}), "RANGES_DIR": str(tmp_path)}
    default_table.cache_clear()
    try:
        assert default_table().lookup("203.0.113.9") is None
        _run("--plain", "mimecast", str(FIXTURES / "plain-vendor.txt"))
        assert default_table().lookup("203.0.113.9").operator == "Mimecast"
    finally:
        default_table.cache_clear()
        ranges.default_asn_table.cache_clear()
