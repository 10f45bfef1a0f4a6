"""User agents: one parse, one cache, one mail-client vocabulary.

Pure (user-agents and the stdlib). Classification asks whether an agent is a
bot or a person's browser; enrichment asks for the device, OS, browser and
mail client. Both read the same cached parse, and both name mail clients
from the same table, so an event's reason and its stored mail client agree.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any

from user_agents import parse as ua_parse

from .caching import sharing_cache

logger = logging.getLogger("django_leadpixel")

PARSE_LENGTH = 1000  # characters of an agent that are parsed (and cached)
CACHE_SIZE = 16384


@dataclass(frozen=True, slots=True)
class Agent:
    """What a user agent says of the device and program that sent it."""

    device_type: str = ""  # "desktop", "mobile", "tablet", "bot" or ""
    os: str = ""
    os_version: str = ""
    browser: str = ""
    browser_version: str = ""
    mail_client: str = ""
    is_bot: bool = False  # user-agents calls it a bot
    browserish: bool = False  # a person's browser or app on a computer, phone or tablet


EMPTY = Agent()

# (pattern, name), searched in order, case-insensitively, on the raw agent. Sources:
# device-detector Tests/Parser/Client/fixtures/pim.yml; docs/proxy-facts.md §4, §7.
MAIL_CLIENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"outlook-(?:ios|android)|microsoft (?:outlook|office/)|msoffice|ms-office"
         r"|macoutlook/|^outlook/", "Outlook"),
        (r"outlook-express", "Outlook Express"),
        (r"windowsmail/", "Windows Mail"),
        (r"windows live mail", "Windows Live Mail"),
        (r"thunderbird/|icedove/", "Thunderbird"),
        (r"em ?client", "eM Client"),
        (r"airmail", "Airmail"),
        (r"mailbird", "Mailbird"),
        (r"postbox[/ ]", "Postbox"),
        (r"yahoomobilemail|yahoomobile/.*mail|yahoo%20mail/|jp\.co\.yahoo\.ymail", "Yahoo Mail"),
        (r"lotus-notes|lotus notes|ibm notes|hcl notes", "Notes"),
        (r"the bat!", "The Bat!"),
        (r"\bkmail", "KMail"),
        (r"evolution/", "Evolution"),
        (r"claws mail", "Claws Mail"),
        (r"foxmail/", "Foxmail"),
        (r"mailmaster(?:pc)?/", "Mail Master"),
        (r"mailspring/", "Mailspring"),
        (r"bluemail/", "BlueMail"),
        (r"navermailapp/", "Naver Mail"),
        (r"seamonkey/|iceape/", "SeaMonkey"),
        (r"canary%20mail", "Canary Mail"),
        (r"polymail/", "Polymail"),
        (r"^barca(?:pro)?/", "Barca"),
        (r"^mailbar/", "MailBar"),
    )
)

# Families user-agents/ua-parser assign to mail programs, for what the table misses.
MAIL_FAMILIES = {
    "Outlook": "Outlook",
    "Windows Live Mail": "Windows Live Mail",
    "AirMail": "Airmail",
    "Apple Mail": "Apple Mail",
    "Thunderbird": "Thunderbird",
    "Lotus Notes": "Notes",
    "IBM Notes": "Notes",
    "The Bat!": "The Bat!",
    "Barca": "Barca",
    "kmail2": "KMail",
    "YahooMobileMail": "Yahoo Mail",
}

# Apple's Mail apps load images with the bare WebKit user agent: no Safari,
# no Version, nothing after "(KHTML, like Gecko)" but an optional Mobile/...
BARE_WEBKIT_TAIL = re.compile(r"AppleWebKit/[\d.]+ \(KHTML, like Gecko\)(?: Mobile/\w+)?\s*$")

# Image proxies fetch on the reader's behalf with their own user agent, which
# describes the proxy (the Gmail one claims Windows XP and Firefox 11). It
# says nothing about the reader's device.
PROXY_TOKENS = ("GoogleImageProxy", "ggpht.com", "YahooMailProxy")

# Tools and libraries rather than people (ua-parser calls few of them spiders).
MACHINE_TOKENS = (
    "HeadlessChrome", "PhantomJS", "python-requests", "Python-urllib", "python-httpx",
    "aiohttp/", "curl/", "Wget/", "Go-http-client", "Java/", "Apache-HttpClient",
    "libwww-perl", "Scrapy", "node-fetch", "axios/",
)


def named_mail_client(ua: str) -> str:
    """The mail client the agent names itself as ("" when it names none)."""
    for pattern, name in MAIL_CLIENTS:
        if pattern.search(ua):
            return name
    return ""


def mail_client(ua: str, browser_family: str = "") -> str:
    """The mail client of an agent: its own name, Apple's bare WebKit shape, or
    the parsed browser family of a mail program."""
    named = named_mail_client(ua)
    if named:
        return named
    if BARE_WEBKIT_TAIL.search(ua):
        if "(Macintosh" in ua:
            return "Apple Mail"
        if "(iPhone" in ua or "(iPad" in ua or "(iPod" in ua:
            return "iOS Mail"
    return MAIL_FAMILIES.get(browser_family, "")


def _known(value: Any) -> str:
    if not isinstance(value, str) or value == "Other":
        return ""
    return value


def _parse(ua: str) -> Agent:
    if any(token in ua for token in PROXY_TOKENS):
        return EMPTY
    parsed = ua_parse(ua)
    os_family = _known(parsed.os.family)
    os_version = _known(parsed.os.version_string)
    browser = _known(parsed.browser.family)
    browser_version = _known(parsed.browser.version_string)
    is_bot = bool(parsed.is_bot)
    browserish = (not is_bot and parsed.browser.family not in ("Other", "")
                  and bool(parsed.is_pc or parsed.is_mobile or parsed.is_tablet))

    # Outlook's apps name only themselves; read the platform off the token.
    if "Outlook-iOS" in ua:
        os_family, browser = "iOS", browser or "Outlook-iOS"
        device_type = "tablet" if "ipad" in ua.lower() else "mobile"
    elif "Outlook-Android" in ua:
        os_family, os_version, browser, browser_version = "Android", "", "Outlook-Android", ""
        device_type = "mobile"
    elif is_bot or any(token in ua for token in MACHINE_TOKENS):
        device_type = "bot"
    elif parsed.is_tablet:
        device_type = "tablet"
    elif parsed.is_mobile:
        device_type = "mobile"
    elif parsed.is_pc:
        device_type = "desktop"
    else:
        device_type = ""
    return Agent(device_type=device_type, os=os_family, os_version=os_version, browser=browser,
                 browser_version=browser_version, mail_client=mail_client(ua, browser),
                 is_bot=is_bot, browserish=browserish)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse_cached(ua: str) -> Agent:
    try:
        return _parse(ua)
    except Exception:  # noqa: BLE001 - hostile input must never break a request or a task
        logger.debug("Could not parse user agent %r", ua, exc_info=True)
        return EMPTY


@sharing_cache(_parse_cached)
def parse(ua: Any) -> Agent:
    """Parse a user agent (cut to ``PARSE_LENGTH`` characters). Never raises: empty,
    non-string or unparseable input gives ``EMPTY``. Cached (``parse.cache_info()``)."""
    if not isinstance(ua, str):
        return EMPTY
    ua = ua[:PARSE_LENGTH].strip()
    if not ua:
        return EMPTY
    return _parse_cached(ua)

