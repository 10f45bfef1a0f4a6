"""Tell real readers from mail proxies, prefetchers, scanners and bots.

Pure: stdlib + ``user_agents`` only; no models, no Celery, no network. Every rule
below names where it comes from ("PF §n" is docs/proxy-facts.md in the repository, section n,
which cites the public sources), so each can be revisited when a vendor changes
behaviour.

This module judges one request by itself. What a message's other events add
(a burst of links, a click at delivery time before any open, the click's
network seen by enrichment) is judged in ``django_leadpixel.history``, the one
place for those rules.

Principle (README "Classification"): strong evidence decides; weak evidence
is never enough alone. Calling a reader a machine hides a real person, so when
only weak evidence points at a machine the verdict is ``unknown`` (or ``human``).

Work is bounded: substring/regex tests on at most the first 1,000 characters of
the user agent, compiled once; the ``user_agents`` parse runs only when the cheap
tests cannot decide, and is cached (bounded LRU) because user agents repeat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import useragents
from .ranges import RangeTable, default_table
from .sources import MACHINE_FOR_READER, MACHINE_NO_READER, SOURCES

__all__ = [
    "classify",
    "Verdict",
    "SOURCES",
    "MACHINE_FOR_READER",
    "MACHINE_NO_READER",
]

_KINDS = ("open", "click")
UA_SCAN_LIMIT = 1000  # characters of the user agent the checks look at


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str
    reason: str
    operator: str = ""

    @property
    def is_machine(self) -> bool:
        return self.source in MACHINE_FOR_READER or self.source in MACHINE_NO_READER

    @property
    def acts_for_reader(self) -> bool:
        return self.source in MACHINE_FOR_READER


# --- signatures ----------------------------------------------------------------------------
# Lower-case substring tokens (and prefixes) tested with ``in``/``startswith`` on the
# lower-cased user agent: far faster than case-insensitive regex alternations. In each
# table the first matching row wins.


def _t(contains: str = "", prefixes: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(contains.split("|")) if contains else (), tuple(
        prefixes.split("|")
    ) if prefixes else ()


def _hit(tokens: tuple[tuple[str, ...], tuple[str, ...]], low: str) -> bool:
    contains, prefixes = tokens
    if prefixes and low.startswith(prefixes):
        return True
    for token in contains:
        if token in low:
            return True
    return False


_PROXIES = [
    # PF §1: uap-core matches "via ggpht.com GoogleImageProxy"; gshutler/useragent PR#33 saw
    # the name lowercased in some logs, hence case-insensitive and either token.
    (
        _t("ggpht.com|googleimageproxy"),
        "google_proxy",
        "Google",
        "User agent names the Google Image Proxy (ggpht.com)",
    ),
    # PF §2: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html".
    (_t("yahoomailproxy"), "yahoo_proxy", "Yahoo", "User agent names the Yahoo Mail Proxy"),
    # PF §5: vendor docs (fastmail.com/policies/bots, hey.com/image-proxy) and device-detector.
    (
        _t("fastmailua"),
        "other_proxy",
        "Fastmail",
        "User agent names Fastmail's image proxy (FastmailUA)",
    ),
    (_t("hey.com/imageproxy"), "other_proxy", "HEY", "User agent names HEY's image proxy"),
    (_t("seznamemailproxy"), "other_proxy", "Seznam", "User agent names Seznam's email proxy"),
    (_t("ramblermail"), "other_proxy", "Rambler", "User agent names Rambler Mail's image proxy"),
    (
        _t("secureurl.fwdcdn.com"),
        "other_proxy",
        "Ukr.net",
        "User agent names the mail.ukr.net proxy (secureurl.fwdcdn.com)",
    ),
]

_SCANNERS = [
    # PF §6 (device-detector bots.yml, Crawler-Detect, crawler-user-agents).
    (_t("barracuda sentinel"), "Barracuda", "User agent names Barracuda Sentinel"),
    (
        _t("kaspersky lab cfr link resolver"),
        "Kaspersky",
        "User agent names Kaspersky's link resolver",
    ),
    (_t("norton-safeweb"), "Norton", "User agent names Norton Safe Web"),
    (_t("spamexperts"), "SpamExperts", "User agent names SpamExperts' virus scan"),
    (_t("google-safety"), "Google", "User agent names Google-Safety (malware checks)"),
    (_t("netcraftsurveyagent"), "Netcraft", "User agent names Netcraft's survey agent"),
    (
        _t("xpanse|paloaltonetworks.com|palo alto networks company"),
        "Palo Alto Networks",
        "User agent names Palo Alto Cortex Xpanse",
    ),
    (_t("valimail"), "Valimail", "User agent names Valimail's domain scanner"),
    # PF §4: Office apps pre-check links (elifesciences/builder PR#333; Crawler-Detect tests).
    (
        _t("microsoft office existence discovery|microsoft office protocol discovery"),
        "Microsoft",
        "Microsoft Office link pre-check (Existence/Protocol Discovery)",
    ),
    # Defender for Office 365 publishes no UA (PF §4); this token appears in public bot lists.
    (_t("safelinks"), "Microsoft", "User agent names Microsoft Safe Links"),
]

# Real mail clients (``useragents.MAIL_CLIENTS``) are checked BEFORE the bot tests:
# Crawler-Detect lists Outlook, Airmail, ^Mail/ etc. as crawlers (PF §8, Crawler-Detect#430)
# and would hide genuine opens.

# Unfurlers and well-known bots (PF §6, crawler-user-agents, device-detector bots.yml).
_BOTS = [
    (_t("slackbot|slack-imgproxy"), "Slack"),
    (_t("facebookexternalhit|facebookcatalog|meta-externalagent"), "Meta"),
    (_t("whatsapp"), "WhatsApp"),
    (_t("telegrambot"), "Telegram"),  # "TelegramBot (like TwitterBot)": before Twitter
    (_t("twitterbot"), "X"),
    (_t("discordbot"), "Discord"),
    (_t("linkedinbot"), "LinkedIn"),
    (_t("bingpreview|skypeuripreview|microsoftpreview|bingbot|msnbot|adidxbot"), "Microsoft"),
    (_t("yahoo link preview|yahoo:linkexpander|yahoo! slurp"), "Yahoo"),
    (
        _t(
            "googlebot|adsbot-google|mediapartners-google|feedfetcher-google|apis-google"
            "|google-read-aloud|googleother|google-inspectiontool"
        ),
        "Google",
    ),
    (_t("applebot"), "Apple"),
    # Uptime and health-check services (device-detector bots.yml "Site Monitor"/"Service Agent").
    (
        _t(
            "health-check|healthcheck|datadog agent|pingdom|uptimerobot|statuscake|site24x7"
            "|newrelicpinger"
        ),
        "",
    ),
    # HTTP libraries and tools: a person's mail client never sends these.
    (
        _t(
            "python-requests|python-urllib|aiohttp|okhttp/|apache-httpclient"
            "|jakarta commons-httpclient|libwww-perl|headlesschrome|phantomjs|apachebench",
            "curl/|wget/|go-http-client|java/|axios/|node-fetch|undici|postmanruntime|insomnia"
            "|httpie|php/|ruby|guzzlehttp",
        ),
        "",
    ),
]
# Generic self-declared robots ("compatible; XyzBot/1.0; +http://..."). Applied only to UAs
# that are not browser-shaped: inside a browser UA, "bot" also matches phone models (CUBOT).
_GENERIC_BOT = re.compile(
    r"(?:bot|crawler|spider|scanner|fetcher)[/ ;)]|\+https?://|^[^/ ]*(?:bot|crawler)\b"
)

# A full browser (or browser-engine webview) shape: fast path that skips the UA parse.
_BROWSER = re.compile(
    r"^Mozilla/5\.0 \((?:Windows NT|Macintosh|X11|Linux|iPhone|iPad|iPod|Android|"
    r"Wayland|PC; OpenHarmony|Windows Phone)[^)]*\) "
    r"(?:AppleWebKit/[\d.+]+ \(KHTML, like Gecko\)|Gecko/\d+)"
    r".*(?:Chrome|Firefox|Version|CriOS|FxiOS|EdgiOS|Edg|OPR|Vivaldi|SamsungBrowser|"
    r"YaBrowser|Mobile)/",
)
# Words that send an otherwise browser-shaped UA to the careful (parsed) path.
_SUSPICIOUS = _t(
    "bot|crawl|spider|slurp|preview|headless|fetch|scan|check|monitor"
    "|http|proxy|python|curl|java|lighthouse"
)

# Gmail's prefetcher (PROXY_FACTS §10; gmass.co, bird.com, mautic PR#10245, ahoy_email#139):
# an Edge 12 agent with a stray "Mozilla/5.0" at the end, from Google's addresses, seconds
# after delivery when the recipient has Gmail open. A Google machine, never a reader's device.
_GMAIL_PREFETCH = re.compile(r"Edge/12\.246 Mozilla/5\.0$")

# Apple Mail without a browser: "... AppleWebKit/605.1.15 (KHTML, like Gecko)" and nothing
# after, or only an OS-version token. Sent by Apple Mail itself (uap-core#528) and, per
# warmbly PR#569 [3p], by MPP's prefetcher too, so alone it proves nothing (PF §3).
_BARE_WEBKIT = re.compile(
    r"^Mozilla/5\.0 \((?:Macintosh|iPhone|iPad)[^)]*\) AppleWebKit/[\d.]+ \(KHTML, like Gecko\)$"
)


def _first(table, low):
    for row in table:
        if _hit(row[0], low):
            return row
    return None


@dataclass(frozen=True, slots=True)
class _Profile:
    """Everything the user agent alone says; cached per distinct user agent."""

    cat: str  # proxy, scanner, mpp_ua, bare_webkit, mail, bot, browser, other
    source: str = ""
    operator: str = ""
    reason: str = ""
    browserish: bool = False


@lru_cache(maxsize=8192)
def _profile(ua: str) -> _Profile:
    # Order matters: proxies (some are browser-shaped: FastmailUA, HEY) and self-named
    # scanners first, then Apple MPP shapes, then mail clients BEFORE any bot test.
    low = ua.lower()
    hit = _first(_PROXIES, low)
    if hit:
        return _Profile("proxy", hit[1], hit[2], hit[3])
    scan = _first(_SCANNERS, low)
    if scan:
        return _Profile("scanner", "scanner", scan[1], scan[2])
    if _GMAIL_PREFETCH.search(ua):
        return _Profile("bot", "bot", "Google", "Gmail's image prefetcher (an Edge 12 agent "
                        "ending in Mozilla/5.0): fetched on delivery, not an open")
    if ua == "Mozilla/5.0":
        return _Profile("mpp_ua", operator="Apple")
    if _BARE_WEBKIT.match(ua):
        return _Profile("bare_webkit", operator="Apple")
    client = useragents.named_mail_client(ua)
    if client:
        return _Profile("mail", "human", "", f"Mail client ({client})", True)
    browser_shaped = _BROWSER.match(ua) is not None
    if browser_shaped and not _hit(_SUSPICIOUS, low):
        return _Profile("browser", browserish=True)  # fast path: no parse needed
    row = _first(_BOTS, low)
    if row:
        who = f" ({row[1]})" if row[1] else ""
        return _Profile(
            "bot", "bot", row[1], f"User agent of a bot, link unfurler or HTTP library{who}"
        )
    if not browser_shaped and _GENERIC_BOT.search(low):
        return _Profile("bot", "bot", "", "User agent declares a bot or crawler")
    agent = useragents.parse(ua)
    is_bot, browserish = agent.is_bot, agent.browserish
    if is_bot:
        return _Profile("bot", "bot", "", "User agent parsed as a bot (user-agents)")
    return _Profile("browser" if browserish else "other", browserish=browserish)


def classify(
    *,
    ip: str | None,
    user_agent: str,
    kind: str,
    method: str = "GET",
    honeypot: bool = False,
    purpose: str = "",
    ranges: RangeTable | None = None,
) -> Verdict:
    """Classify one open or click from its own request. Never raises on hostile values;
    raises ValueError for a ``kind`` other than "open"/"click" and TypeError for an
    unknown keyword. The message's history is judged by ``history.judge``."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'open' or 'click', not {kind!r}")
    is_click = kind == "click"
    ua = user_agent[:UA_SCAN_LIMIT].strip() if isinstance(user_agent, str) else ""
    verb = method[:16].strip().upper() if isinstance(method, str) else "GET"
    prof = _profile(ua) if ua else None

    # 1. The proxy's own user agent: strongest, and it names the operator (PF §9.2).
    #    Spoofing exists (PF §2) but nothing better is published.
    if prof is not None and prof.cat == "proxy":
        return Verdict(prof.source, prof.reason, prof.operator)

    # 2. Method and prefetch headers (PF §9.1; Mautic ignores HEAD and Purpose: prefetch).
    #    Link checkers and Safe Links send HEAD first (Django-Verify-Email PR#62).
    if verb in ("HEAD", "OPTIONS"):
        who = prof.operator if prof is not None and prof.cat == "scanner" else ""
        if is_click:
            return Verdict("scanner", f"{verb} request: a link check, not a visit", who)
        return Verdict("bot", f"{verb} request for the pixel: not a mail client loading it", who)
    if isinstance(purpose, str) and "prefetch" in purpose[:64].lower():
        return Verdict("bot", "Prefetch request (Purpose: prefetch), not a visit")

    table = ranges if ranges is not None else default_table()
    net = table.lookup(ip) if ip else None  # None for anything that is not an address
    net_kind = net.kind if net else ""
    net_operator = net.operator if net else ""

    # 3. No user agent at all: real clients always send one (warmbly treats it as machine).
    if prof is None:
        if is_click and net_kind == "scanner":
            return Verdict(
                "scanner", "Click with no user agent from a mail-security network", net_operator
            )
        return Verdict("bot", "Empty user agent")

    # 4. Click behaviour a person cannot produce (PF §6, §9.5): the hidden honeypot link.
    if is_click and honeypot is True:
        return Verdict("scanner", "Clicked the hidden honeypot link")

    cat = prof.cat
    # 5. Scanners that name themselves.
    if cat == "scanner":
        return Verdict("scanner", prof.reason, prof.operator)

    # 6. Apple Mail Privacy Protection (PF §3).
    if cat == "mpp_ua":
        if not is_click:
            # uap-core#509, bird.com: MPP's prefetcher sends exactly "Mozilla/5.0".
            where = " from iCloud Private Relay" if net_kind == "apple_relay" else ""
            return Verdict(
                "apple_mpp", f"Apple MPP prefetch (user agent exactly Mozilla/5.0){where}", "Apple"
            )
        # MPP does not click. A bare "Mozilla/5.0" click is odd but not proof of anything.
        return Verdict("unknown", "Click with the bare user agent Mozilla/5.0")
    if cat == "bare_webkit":
        if not is_click and net_kind == "apple_relay":
            return Verdict(
                "apple_mpp", "Bare WebKit user agent from iCloud Private Relay egress", "Apple"
            )
        # Apple Mail without MPP, or an in-app webview (uap-core#528, beam ua_parser#31).
        return Verdict("human", "Apple Mail (bare WebKit user agent) from a non-relay address")

    # 7. Known mail clients are people, whatever crawler lists say (PF §8).
    if cat == "mail":
        return Verdict("human", prof.reason)

    # 8. Security networks on clicks (PF §9.4), before the bot verdict so that a library
    #    fetching from Microsoft EOP or Barracuda counts as that vendor's scanner. A full
    #    browser from there may be a sandbox detonation or a real person behind browser
    #    isolation: unknown here; ``history`` calls it a scanner at delivery time.
    if is_click and net_kind == "scanner":
        if not prof.browserish:
            return Verdict(
                "scanner", "Non-browser click from a mail-security network", net_operator
            )
        return Verdict(
            "unknown",
            "Browser click from a mail-security network (scanner sandbox or browser isolation)",
            net_operator,
        )

    # 9. Bots, unfurlers, HTTP libraries.
    if cat == "bot":
        return Verdict("bot", prof.reason, prof.operator)

    # 10. A browser or app that parses as a person's device. Timing alone never overrides
    #     this: people read phone notifications within a minute.
    if cat == "browser":
        if not is_click and net_kind == "apple_relay":
            return Verdict("human", "Browser from iCloud Private Relay (a person's Safari)")
        return Verdict("human", "Browser or mail app on a person's device")
    return Verdict("unknown", "User agent not recognised as a browser, mail client or bot")


def browser_shaped(user_agent: str) -> bool:
    """Whether an agent has a full browser's shape (the classifier's fast path)."""
    return _BROWSER.match(user_agent) is not None


def clear_caches() -> None:
    """Forget every cached judgement of a user agent (benchmarks measure a cold start)."""
    _profile.cache_clear()
    useragents.parse.cache_clear()
