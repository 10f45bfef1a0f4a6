"""Pure enrichment: places from the fixture MaxMind databases, devices from real UAs.

No database access. The .mmdb files are in tests/fixtures/geoip/ (made by
make_fixtures.py there; regenerating them needs mmdb-writer, running these
tests does not).
"""

from __future__ import annotations

import dataclasses
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import maxminddb
import pytest
from django.test import override_settings

from django_leadpixel import enrichment, useragents
from django_leadpixel.enrichment import (
    Device,
    GeoDatabaseError,
    GeoLocator,
    GeoStatus,
    Place,
    anonymize_ip,
    geoip_problem,
    get_locator,
    is_public_ip,
    locate,
    locator_problem,
    parse_user_agent,
    reset_locator,
    resolve_geoip_paths,
)

GEOIP = Path(__file__).resolve().parent.parent / "fixtures" / "geoip"
CITY = GEOIP / "Test-City.mmdb"
ASN = GEOIP / "Test-ASN.mmdb"
CORRUPT = GEOIP / "Corrupt-City.mmdb"
BROKEN = GEOIP / "Broken-Data-City.mmdb"

# Both the C extension (MODE_AUTO picks it when installed) and pure Python mmap.
MODES = [maxminddb.MODE_AUTO, maxminddb.MODE_MMAP]


@pytest.fixture(autouse=True)
def fresh_state():
    reset_locator()
    parse_user_agent.cache_clear()
    yield
    reset_locator()
    parse_user_agent.cache_clear()


@pytest.fixture(params=MODES, ids=["auto", "mmap"])
def locator(request):
    with GeoLocator(CITY, ASN, mode=request.param) as loc:
        yield loc


@pytest.fixture
def city_only():
    with GeoLocator(CITY) as loc:
        yield loc


def geoip_settings(path, **extra):
    return override_settings(LEADPIXEL={"GEOIP_PATH": str(path), **extra})


# --------------------------------------------------------------------------
# GeoLocator
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country", "region", "city", "asn"),
    [
        ("81.2.69.160", "GB", "England", "London", 20712),
        ("89.160.20.112", "SE", "Östergötland County", "Linköping", 29518),
        ("66.249.84.1", "US", "California", "Mountain View", 15169),
        ("2001:67c:2e8:22::c100:68b", "NL", "North Holland", "Amsterdam", 3333),
        ("::ffff:81.2.69.160", "GB", "England", "London", 20712),  # IPv4-mapped
        ("  81.2.69.160 ", "GB", "England", "London", 20712),
        ("[2001:67c:2e8::1]", "NL", "North Holland", "Amsterdam", 3333),
    ],
)
def test_known_addresses_locate(locator, ip, country, region, city, asn):
    place, status = locator.locate(ip)
    assert status == GeoStatus.OK
    assert (place.country, place.region, place.city, place.asn) == (country, region, city, asn)
    assert place.country_name
    assert isinstance(place.latitude, float) and isinstance(place.longitude, float)
    assert isinstance(place.accuracy_radius, int)
    assert place.as_org


def test_full_place(locator):
    place, status = locator.locate("81.2.69.160")
    assert status == GeoStatus.OK
    assert place == Place(
        country="GB",
        country_name="United Kingdom",
        region="England",
        city="London",
        latitude=51.5142,
        longitude=-0.0931,
        accuracy_radius=10,
        asn=20712,
        as_org="Andrews & Arnold Ltd",
    )


def test_anonymised_address_locates_like_its_host(locator):
    full, _ = locator.locate("81.2.69.160")
    anonymised = anonymize_ip("81.2.69.160")
    assert anonymised == "81.2.69.0"
    assert locator.locate(anonymised) == (full, GeoStatus.OK)
    v6 = anonymize_ip("2001:67c:2e8:22::c100:68b")
    assert locator.locate(v6)[0].city == "Amsterdam"


def test_country_only_network_has_no_region_city_or_asn(locator):
    place, status = locator.locate("2a02:cf40::5")
    assert status == GeoStatus.OK
    assert (place.country, place.country_name, place.region, place.city) == ("NO", "Norway", "", "")
    assert place.asn is None and place.as_org == ""


def test_without_asn_database_asn_is_empty(city_only):
    place, status = city_only.locate("89.160.20.112")
    assert status == GeoStatus.OK
    assert place.city == "Linköping"
    assert place.asn is None and place.as_org == ""


def test_gmail_proxy_address_is_mountain_view_in_the_database(locator):
    """The database does say Mountain View for the Google Image Proxy; that is
    why the tasks must mask proxy events, and why the proxy UA yields no device."""
    place, _ = locator.locate("66.249.84.1")
    assert place.city == "Mountain View"
    assert parse_user_agent(GMAIL_PROXY_UA) == Device()


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "81.2.96.1"])
def test_unknown_address_is_not_found(locator, ip):
    assert locator.locate(ip) == (Place(), GeoStatus.NOT_FOUND)


def test_not_found_in_city_keeps_the_asn(locator):
    # 81.2.64.0/19 is in the ASN database; only 81.2.69.0/24 is in the City one.
    place, status = locator.locate("81.2.64.1")
    assert status == GeoStatus.NOT_FOUND
    assert place == Place(asn=20712, as_org="Andrews & Arnold Ltd")


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1%eth0",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "2001:db8::1",  # documentation
    ],
)
def test_private_and_reserved_addresses_are_skipped_without_lookup(locator, monkeypatch, ip):
    def boom(*args, **kwargs):
        raise AssertionError("the database was consulted")

    monkeypatch.setattr(locator, "_city_lookup", boom)
    monkeypatch.setattr(locator, "_asn_lookup", boom)
    assert locator.locate(ip) == (Place(), GeoStatus.PRIVATE)
    assert not is_public_ip(ip)


@pytest.mark.parametrize(
    "ip",
    ["", "   ", "garbage", "999.1.1.1", "1.2.3", "1.2.3.4/24", "1.2.3.4:80", "::g", None, 1, b"x"],
)
def test_invalid_address(locator, ip):
    assert locator.locate(ip) == (Place(), GeoStatus.INVALID)
    assert not is_public_ip(ip)


def test_missing_file_is_no_database(tmp_path):
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(tmp_path / "GeoLite2-City.mmdb")
    assert exc.value.status == GeoStatus.NO_DATABASE
    assert "GeoLite2-City.mmdb" in str(exc.value)


def test_directory_is_no_database(tmp_path):
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(tmp_path)
    assert exc.value.status == GeoStatus.NO_DATABASE


def test_missing_asn_file_given_explicitly_is_no_database(tmp_path):
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(CITY, tmp_path / "nope.mmdb")
    assert exc.value.status == GeoStatus.NO_DATABASE


@pytest.mark.parametrize("mode", MODES, ids=["auto", "mmap"])
def test_corrupt_file_is_corrupt(mode):
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(CORRUPT, mode=mode)
    assert exc.value.status == GeoStatus.CORRUPT
    assert "Corrupt-City.mmdb" in exc.value.message


@pytest.mark.parametrize("mode", MODES, ids=["auto", "mmap"])
def test_empty_and_garbage_files_are_corrupt(tmp_path, mode):
    empty = tmp_path / "empty.mmdb"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"\x00\xff" * 3000)
    for path in (empty, garbage):
        with pytest.raises(GeoDatabaseError) as exc:
            GeoLocator(path, mode=mode)
        assert exc.value.status == GeoStatus.CORRUPT


def test_corrupt_asn_file_is_corrupt():
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(CITY, CORRUPT)
    assert exc.value.status == GeoStatus.CORRUPT


def test_wrong_database_types_are_refused():
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(ASN)  # an ASN database where the City one belongs
    assert exc.value.status == GeoStatus.NO_DATABASE
    assert "GeoLite2-ASN" in exc.value.message
    with pytest.raises(GeoDatabaseError) as exc:
        GeoLocator(CITY, CITY)  # a City database where the ASN one belongs
    assert exc.value.status == GeoStatus.NO_DATABASE


@pytest.mark.parametrize("mode", MODES, ids=["auto", "mmap"])
def test_broken_data_section_is_corrupt_at_lookup(mode):
    # Opens fine (metadata and tree are valid), every record fails to decode.
    with GeoLocator(BROKEN, ASN, mode=mode) as loc:
        assert loc.problem is None
        assert loc.locate("81.2.69.160") == (Place(), GeoStatus.CORRUPT)
        assert loc.locate("8.8.8.8") == (Place(), GeoStatus.NOT_FOUND)  # no record to decode
        assert loc.locate("10.0.0.1") == (Place(), GeoStatus.PRIVATE)
        assert "Broken-Data-City.mmdb" in loc.problem


def test_locate_after_close_raises():
    loc = GeoLocator(CITY, ASN)
    loc.close()
    with pytest.raises(GeoDatabaseError):
        loc.locate("81.2.69.160")


def test_locator_is_shareable_between_threads(locator):
    ips = ["81.2.69.160", "89.160.20.112", "2001:67c:2e8::1", "8.8.8.8", "10.0.0.1"] * 200
    expected = [locator.locate(ip) for ip in ips]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(locator.locate, ips))
    assert results == expected


def test_results_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Place().city = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Device().os = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", "81.2.69.0"),
        ("81.2.69.0", "81.2.69.0"),
        ("10.20.30.40", "10.20.30.0"),
        (" 1.2.3.4\n", "1.2.3.0"),
        ("2001:67c:2e8:22::c100:68b", "2001:67c:2e8::"),
        ("2001:0DB8:AAAA:BBBB:CCCC:DDDD:EEEE:FFFF", "2001:db8:aaaa::"),
        ("::ffff:1.2.3.4", "1.2.3.0"),
        ("::ffff:81.2.69.160", "81.2.69.0"),
        ("fe80::1234:5678%eth0", "fe80::"),
        ("2001:67c:2e8:22::1%3", "2001:67c:2e8::"),
        ("[2001:67c:2e8:22::1]", "2001:67c:2e8::"),
        ("::1", "::"),
        ("garbage", None),
        ("1.2.3.4.5", None),
        ("", None),
        ("%eth0", None),
        (None, None),
        (16909060, None),
        ("1" * 10_000, None),
    ],
)
def test_anonymize_ip(ip, expected):
    assert anonymize_ip(ip) == expected


@pytest.mark.parametrize("ip", ["81.2.69.160", "8.8.8.8", "2001:67c:2e8::1", "::ffff:8.8.8.8"])
def test_is_public_ip(ip):
    assert is_public_ip(ip)


# --------------------------------------------------------------------------
# Settings, the shared locator and its cache
# --------------------------------------------------------------------------


def test_resolve_directory():
    with geoip_settings(GEOIP, GEOIP_CITY="Test-City.mmdb", GEOIP_ASN="Test-ASN.mmdb"):
        assert resolve_geoip_paths() == (CITY, ASN)


def test_resolve_directory_default_names_and_missing_asn(tmp_path):
    with geoip_settings(tmp_path):
        assert resolve_geoip_paths() == (tmp_path / "GeoLite2-City.mmdb", None)
    (tmp_path / "GeoLite2-ASN.mmdb").write_bytes(ASN.read_bytes())
    with geoip_settings(tmp_path):
        assert resolve_geoip_paths() == (
            tmp_path / "GeoLite2-City.mmdb",
            tmp_path / "GeoLite2-ASN.mmdb",
        )


def test_resolve_file_is_the_city_database():
    with geoip_settings(CITY):
        assert resolve_geoip_paths() == (CITY, None)
    with geoip_settings(CITY, GEOIP_ASN=str(ASN)):  # an absolute ASN path is honoured
        assert resolve_geoip_paths() == (CITY, ASN)


def test_resolve_falls_back_to_djangos_geoip_path():
    with override_settings(LEADPIXEL={}, GEOIP_PATH=GEOIP, GEOIP_CITY="Test-City.mmdb"):
        assert resolve_geoip_paths() == (CITY, None)
    with override_settings(
        LEADPIXEL={"GEOIP_ASN": "Test-ASN.mmdb"}, GEOIP_PATH=str(GEOIP), GEOIP_CITY="Test-City.mmdb"
    ):
        assert resolve_geoip_paths() == (CITY, ASN)
    with override_settings(LEADPIXEL={}, GEOIP_PATH=str(CITY)):
        assert resolve_geoip_paths() == (CITY, None)


def test_leadpixel_setting_wins_over_django():
    with override_settings(LEADPIXEL={"GEOIP_PATH": str(CITY)}, GEOIP_PATH="/nonexistent"):
        assert resolve_geoip_paths() == (CITY, None)


def test_resolve_nothing_configured():
    with override_settings(LEADPIXEL={}):
        assert resolve_geoip_paths() == (None, None)


def test_shared_locator_and_cache():
    with geoip_settings(GEOIP, GEOIP_CITY="Test-City.mmdb", GEOIP_ASN="Test-ASN.mmdb"):
        loc = get_locator()
        assert loc is not None and get_locator() is loc
        assert locator_problem() is None
        assert geoip_problem() is None
        locate.cache_clear()
        first = locate("81.2.69.160")
        assert first[0].city == "London" and first[1] == GeoStatus.OK
        assert locate.cache_info().misses == 1 and locate.cache_info().hits == 0
        assert locate("81.2.69.160") is first
        assert locate.cache_info().hits == 1
        assert locate.cache_info().maxsize == enrichment.LOCATE_CACHE_SIZE
        reset_locator()
        assert locate.cache_info().currsize == 0
        assert get_locator() is not loc


def test_no_database_configured():
    with override_settings(LEADPIXEL={}):
        assert get_locator() is None
        status, message = locator_problem()
        assert status == GeoStatus.NO_DATABASE
        assert "GEOIP_PATH" in message
        assert locate("81.2.69.160") == (Place(), GeoStatus.NO_DATABASE)
        assert geoip_problem() == message
        assert locate.cache_info().currsize == 0  # "no database" is never cached


def test_unusable_setting_is_a_problem_not_a_crash():
    with override_settings(LEADPIXEL={"GEOIP_PATH": 42}):
        assert get_locator() is None
        assert locate("81.2.69.160") == (Place(), GeoStatus.NO_DATABASE)
        assert "GEOIP_PATH" in geoip_problem()


def test_missing_database_in_configured_directory(tmp_path):
    with geoip_settings(tmp_path):
        assert get_locator() is None
        assert locate("81.2.69.160") == (Place(), GeoStatus.NO_DATABASE)
        assert "GeoLite2-City.mmdb" in geoip_problem()


def test_database_installed_later_is_picked_up(tmp_path, monkeypatch):
    monkeypatch.setattr(enrichment.geo, "RECHECK_SECONDS", 0.0)
    with geoip_settings(tmp_path):
        assert locate("81.2.69.160") == (Place(), GeoStatus.NO_DATABASE)
        shutil.copy(CITY, tmp_path / "GeoLite2-City.mmdb")
        place, status = locate("81.2.69.160")
        assert (place.city, status) == ("London", GeoStatus.OK)
        assert geoip_problem() is None


def test_corrupt_configured_database():
    with geoip_settings(CORRUPT):
        assert get_locator() is None
        assert locator_problem()[0] == GeoStatus.CORRUPT
        assert locate("81.2.69.160") == (Place(), GeoStatus.CORRUPT)
        assert "corrupt" in geoip_problem()


def test_broken_data_is_reported_after_a_lookup():
    with geoip_settings(BROKEN):
        assert geoip_problem() is None  # opens fine
        assert locate("81.2.69.160") == (Place(), GeoStatus.CORRUPT)
        assert "Broken-Data-City.mmdb" in geoip_problem()


def test_corrupt_asn_keeps_places(tmp_path):
    shutil.copy(CITY, tmp_path / "GeoLite2-City.mmdb")
    shutil.copy(CORRUPT, tmp_path / "GeoLite2-ASN.mmdb")
    with geoip_settings(tmp_path):
        place, status = locate("81.2.69.160")
        assert (place.city, place.asn, status) == ("London", None, GeoStatus.OK)
        assert "GeoLite2-ASN.mmdb" in geoip_problem()


def test_locate_rejects_non_strings_without_caching():
    with geoip_settings(CITY):
        assert locate(None) == (Place(), GeoStatus.INVALID)
        assert locate.cache_info().currsize == 0


# --------------------------------------------------------------------------
# User agents
# --------------------------------------------------------------------------

GMAIL_PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)

# (user agent, device_type, os, browser, mail_client)
# fmt: off
REAL_USER_AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "desktop", "Windows", "Chrome", "",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Safari/605.1.15",
        "desktop", "Mac OS X", "Safari", "",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "desktop", "Ubuntu", "Firefox", "",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
        "mobile", "iOS", "Mobile Safari", "",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1",
        "tablet", "iOS", "Mobile Safari", "",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        "mobile", "Android", "Chrome Mobile", "",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "tablet", "Android", "Chrome", "",
    ),
    (
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; "
        ".NET4.0E; Microsoft Outlook 16.0.4266; ms-office; MSOffice 16)",
        "desktop", "Windows", "Outlook", "Outlook",
    ),
    (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
        "desktop", "Windows", "Outlook", "Outlook",
    ),
    (
        "Outlook-iOS/709.2189947.prod.iphone (4.2350.0)",
        "mobile", "iOS", "Outlook-iOS", "Outlook",
    ),
    ("Outlook-Android/2.0", "mobile", "Android", "Outlook-Android", "Outlook"),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5.1",
        "desktop", "Windows", "Thunderbird", "Thunderbird",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
        "desktop", "Linux", "Thunderbird", "Thunderbird",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        "desktop", "Mac OS X", "Apple Mail", "Apple Mail",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148",
        "mobile", "iOS", "Mobile Safari UI/WKWebView", "iOS Mail",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148",
        "tablet", "iOS", "Mobile Safari UI/WKWebView", "iOS Mail",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "eM Client/9.2.2157.0 Chrome/106.0.5249.119 Safari/537.36",
        "desktop", "Windows", "Chrome", "eM Client",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Airmail/5.6.2",
        "desktop", "Mac OS X", "Apple Mail", "Airmail",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/118.0.0.0 Safari/537.36 Mailbird/3.0.0.0",
        "desktop", "Windows", "Chrome", "Mailbird",
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "bot", "", "Googlebot", "",
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "bot", "", "bingbot", "",
    ),
    ("curl/8.4.0", "bot", "", "curl", ""),
    ("python-requests/2.31.0", "bot", "", "Python Requests", ""),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.0.0 Safari/537.36",
        "bot", "Linux", "HeadlessChrome", "",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("ua", "device_type", "os", "browser", "mail_client"),
    REAL_USER_AGENTS,
    ids=[f"{row[1]}-{row[3]}-{row[4]}-{i}" for i, row in enumerate(REAL_USER_AGENTS)],
)
def test_parse_real_user_agents(ua, device_type, os, browser, mail_client):
    device = parse_user_agent(ua)
    assert (device.device_type, device.os, device.browser, device.mail_client) == (
        device_type,
        os,
        browser,
        mail_client,
    )


def test_parse_versions():
    device = parse_user_agent(REAL_USER_AGENTS[0][0])
    assert device == Device(
        device_type="desktop",
        os="Windows",
        os_version="10",
        browser="Chrome",
        browser_version="120.0.0",
        mail_client="",
    )
    iphone = parse_user_agent(REAL_USER_AGENTS[3][0])
    assert (iphone.os_version, iphone.browser_version) == ("17.1.2", "17.1.2")


@pytest.mark.parametrize(
    "ua",
    [
        GMAIL_PROXY_UA,
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    ],
)
def test_image_proxy_user_agents_say_nothing_about_the_reader(ua):
    assert parse_user_agent(ua) == Device()


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "   ",
        "Mozilla/5.0",  # Apple Mail Privacy Protection's prefetch
        "\x00" * 100,
        "Mozilla/5.0 (\x00Windows NT 10.0\x00)",
        "\ud800\udfff\ud800",  # lone surrogates
        "Mozilla/5.0 (iPhone; \ud83d) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        "A" * 8192,
        "Mozilla/5.0 (" + "a;" * 4096,
        "Mozilla/5.0 (Linux; Android " + "1." * 4096,
        "(" * 5000 + ")" * 5000,
        "\u202e\u200b\ufeff" * 500,
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        None,
        b"Mozilla/5.0",
        12345,
    ],
)
def test_hostile_user_agents_never_raise(ua):
    device = parse_user_agent(ua)
    assert isinstance(device, Device)
    assert device.device_type in {"desktop", "mobile", "tablet", "bot", ""}


def test_empty_and_non_string_user_agents_give_empty_device():
    for ua in ("", "  ", None, b"x", 3):
        assert parse_user_agent(ua) == Device()


def test_parser_failure_gives_empty_device(monkeypatch):
    def explode(ua):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(useragents, "ua_parse", explode)
    assert parse_user_agent("Mozilla/5.0 (Windows NT 10.0) Chrome/120") == Device()


def test_long_user_agents_are_cut_before_parsing_and_caching(monkeypatch):
    seen = []
    real = useragents.ua_parse

    def spy(ua):
        seen.append(ua)
        return real(ua)

    monkeypatch.setattr(useragents, "ua_parse", spy)
    base = REAL_USER_AGENTS[0][0]
    padded = base + " " + "x" * 8000
    device = parse_user_agent(padded)
    assert device.browser == "Chrome"
    assert len(seen[0]) == enrichment.USER_AGENT_PARSE_LENGTH
    parse_user_agent(base + " " + "x" * 9000)  # same first 1,000 characters
    assert len(seen) == 1


def test_user_agent_cache():
    ua = REAL_USER_AGENTS[3][0]
    first = parse_user_agent(ua)
    info = parse_user_agent.cache_info()
    assert (info.hits, info.misses) == (0, 1)
    assert parse_user_agent(ua) is first
    assert parse_user_agent.cache_info().hits == 1
    assert parse_user_agent.cache_info().maxsize == enrichment.USER_AGENT_CACHE_SIZE
