"""A simulated email campaign with ground truth: who really opened and clicked.

``make_campaign(seed)`` builds about 600 recipients of mixed mailbox kinds and
every request their mail will cause at the tracker, people's and machines',
from a ``random.Random(seed)``. Pure Python (no Django): ``tests/test_campaign.py``
plays the events through the real views and compares the product's figures
with the truth.

Truth is per message and is what a perfect tracker could know:

- ``opened_by_person``: the person's own reading reached the tracker (their
  mail client loaded the pixel, or Gmail's or Yahoo's proxy fetched it as they
  opened the mail), or they clicked (a click proves an open). An Apple MPP
  prefetch is not a person's open, and neither is the later reading of an MPP
  user or of someone with images blocked: nothing of it reaches the tracker.
- ``clicked_by_person``: the person clicked at least one link.

Behaviour follows published facts about mail proxies and scanners ("PF §n"
names a section of the collected facts; their sources are cited in
``django_leadpixel/data/ranges/SOURCES.md``), not any classifier's rules: the
shapes of the machines (user agents, timing, methods, networks) are the
published ones, and people are given the habits
that make naive rules fail (reading a phone notification within a minute,
clicking from a virtual desktop in a cloud, double-clicking a link).

Addresses are real allocations of the operators named (the clouds' ranges for
scanners, ISPs and carriers for people), so the GeoIP ASN fixture can describe
them. The link scanners of kinds "burst", "detonation" and "head" run in cloud
networks that no vendor publishes (PF §10): their addresses are outside every
shipped range file, which ``tests/test_campaign.py`` checks.

Run ``python tests/campaign.py [seed]`` to print the campaign's composition.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

SIZE = 600
SEED = 20261130
LINKS = 5  # tracked links in the email (mailto: and unsubscribe links are not tracked)

RELAY_FILE = (Path(__file__).resolve().parent.parent / "django_leadpixel" / "data" / "ranges"
              / "apple_relay.txt")

# --- user agents -----------------------------------------------------------------------------
# Proxies and prefetchers (PF §1, §2, §3, §10).
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GMAIL_PREFETCH = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0")
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
APPLE_MPP = "Mozilla/5.0"

# People's mail clients (PF §4, §7).
OUTLOOK = [
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; "
    "Microsoft Outlook 16.0.5257; ms-office; MSOffice 16)",
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; "
    "MSOffice 16)",
]
APPLE_MAIL_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
THUNDERBIRD = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"

# Current browsers (reduced user agents: the OS version is frozen).
CHROME_VERSIONS = (139, 140, 141, 142)
FIREFOX_VERSIONS = (143, 144, 145)


def chrome_desktop(version: int) -> str:
    return ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version}.0.0.0 Safari/537.36")


def edge_desktop(version: int) -> str:
    return chrome_desktop(version) + f" Edg/{version}.0.0.0"


def chrome_mac(version: int) -> str:
    return ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version}.0.0.0 Safari/537.36")


def firefox_desktop(version: int) -> str:
    return f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{version}.0) Gecko/20100101 Firefox/{version}.0"


SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/26.1 Safari/605.1.15")
SAFARI_IPHONE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/26.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1",
]


def chrome_android(version: int) -> str:
    return ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version}.0.0.0 Mobile Safari/537.36")


# Old Chrome on Windows 7/10, as sandboxes detonating links send it (PF §10:
# gophish#973 Chrome/57 on NT 6.1; gophish#2446 Chrome 79, 80, 96).
OLD_CHROME = ["57.0.2987.133", "63.0.3239.132", "70.0.3538.102", "79.0.3945.130",
              "80.0.3987.149", "87.0.4280.88", "96.0.4664.110"]


def old_chrome(version: str, nt: str) -> str:
    return (f"Mozilla/5.0 (Windows NT {nt}; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version} Safari/537.36")


# Non-browser agents of a vendor's scanner (PF §6, §10: empty, Python Requests,
# HeadlessChrome in volume from Microsoft addresses).
HEADLESS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36")
NON_BROWSER = ["", HEADLESS, "python-requests/2.32.3"]

# --- networks ----------------------------------------------------------------------------------
# (network, who). People's networks: ISPs and carriers (ASNs in the GeoIP fixture).
HOME = ["73.0.0.0/8", "79.192.0.0/10", "86.128.0.0/10", "81.2.69.0/24", "89.160.20.0/24"]
MOBILE = ["172.56.0.0/14", "174.192.0.0/10"]
OFFICE = ["4.0.0.0/9", "73.0.0.0/8", "79.192.0.0/10", "86.128.0.0/10"]
ZSCALER = ["165.225.0.0/17", "136.226.0.0/16"]  # employees' own browsing leaves through it (PF §10)
VDI = ["20.50.0.0/16", "20.61.0.0/16"]  # people's virtual desktops in Azure (DESIGN)
GMAIL_PROXY_NET = ["66.249.80.0/20"]  # PF §1: 66.249.82-93.x
GOOGLE_NET = ["66.249.80.0/20", "66.102.0.0/20", "74.125.0.0/16"]
YAHOO_NET = ["98.136.0.0/14", "74.6.0.0/16"]
EOP_NET = ["40.107.0.0/16", "40.92.0.0/15", "52.100.0.0/14"]  # shipped (microsoft_eop.txt)
# Unpublished scanners' clouds: AWS (3.x, 18.x, 52.x, 54.x) and Azure (20.x, 52.x).
SCANNER_CLOUDS = ["3.120.0.0/14", "18.130.0.0/16", "52.14.0.0/16", "54.200.0.0/15",
                  "20.42.0.0/16", "52.168.0.0/14"]

MAILBOX_WEIGHTS = {
    "gmail": 0.30,
    "apple_mpp": 0.20,
    "yahoo": 0.05,
    "outlook": 0.12,
    "phone": 0.12,
    "apple_mail": 0.03,  # Apple Mail without MPP (turned off, or a VPN: PF §10)
    "thunderbird": 0.03,  # blocks remote content by default: clicks without opens
    "corporate": 0.15,  # behind a link-scanning gateway
}
GATEWAY_WEIGHTS = {"burst": 0.35, "detonation": 0.25, "head": 0.20, "eop": 0.20}


class Event(NamedTuple):
    at: float  # seconds after sent_at
    message: int  # recipient index
    kind: str  # "open" or "click"
    ip: str
    user_agent: str
    method: str  # "GET" or "HEAD"
    link: int | None  # 0..LINKS-1 for clicks, None for opens
    actor: str = ""  # who made the request (for diagnostics only; the truth is per message)


@dataclass
class Recipient:
    index: int
    mailbox: str
    gateway: str = ""  # for "corporate": burst, detonation, head, eop
    opened_by_person: bool = False
    clicked_by_person: bool = False
    reads: bool = False  # the person read it, seen by the tracker or not (not part of the truth)

    @property
    def label(self) -> str:
        return f"{self.mailbox}/{self.gateway}" if self.gateway else self.mailbox


@dataclass
class Campaign:
    seed: int
    recipients: list[Recipient]
    events: list[Event] = field(default_factory=list)

    @property
    def opened_by_person(self) -> int:
        return sum(r.opened_by_person for r in self.recipients)

    @property
    def clicked_by_person(self) -> int:
        return sum(r.clicked_by_person for r in self.recipients)

    def naive(self) -> tuple[int, int]:
        """A naive tracker's figures: every open is an open, every click a click
        (and a click an open)."""
        opened = {e.message for e in self.events}
        clicked = {e.message for e in self.events if e.kind == "click"}
        return len(opened), len(clicked)


def relay_networks() -> list[ipaddress.IPv4Network]:
    lines = RELAY_FILE.read_text().splitlines()
    return [ipaddress.ip_network(line.strip()) for line in lines
            if line.strip() and not line.startswith("#") and ":" not in line]


class Addresses:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.relays = relay_networks()

    def host(self, networks) -> str:
        net = ipaddress.ip_network(self.rng.choice(networks)) if isinstance(networks, list) \
            else networks
        # A host address, never the network's first or last.
        offset = self.rng.randrange(1, net.num_addresses - 1)
        return str(net.network_address + offset)

    def relay(self) -> str:
        return self.host(self.rng.choice(self.relays))


class Builder:
    def __init__(self, seed: int, size: int):
        self.rng = random.Random(seed)
        self.ip = Addresses(self.rng)
        self.seed, self.size = seed, size
        self.events: list[Event] = []
        # Gateways are shared by many recipients (one per organisation, a few
        # addresses each), as real ones are.
        self.gateway_pools = {
            kind: [self._gateway(kind) for _ in range(4)] for kind in GATEWAY_WEIGHTS
        }

    # -- helpers ---------------------------------------------------------------------------------
    def _gateway(self, kind: str) -> dict:
        rng = self.rng
        nets = EOP_NET if kind == "eop" else [rng.choice(SCANNER_CLOUDS)]
        addresses = [self.ip.host(nets) for _ in range(rng.randint(2, 5))]
        version = rng.choice((131, 134, 136, *CHROME_VERSIONS))
        agents = {
            "burst": [rng.choice([edge_desktop(version), chrome_desktop(version)])],
            "detonation": [old_chrome(rng.choice(OLD_CHROME), rng.choice(("6.1", "10.0")))],
            "head": [rng.choice([chrome_desktop(version), firefox_desktop(rng.choice(FIREFOX_VERSIONS))])],
            "eop": NON_BROWSER + [old_chrome("57.0.2987.133", "6.1")],
        }[kind]
        return {"addresses": addresses, "agents": agents}

    def add(self, at: float, r: Recipient, kind: str, ip: str, ua: str, method: str = "GET",
            link: int | None = None, actor: str = "person") -> None:
        self.events.append(Event(round(at, 3), r.index, kind, ip, ua, method, link, actor))

    def uniform(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)

    def log_uniform(self, lo: float, hi: float) -> float:
        return lo * (hi / lo) ** self.rng.random()

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def read_delay(self) -> float:
        """Seconds from delivery to a person's reading: some at once, most later that day,
        some days later."""
        roll = self.rng.random()
        if roll < 0.25:
            return self.rng.expovariate(1 / 600) + 20
        if roll < 0.70:
            return self.uniform(1800, 12 * 3600)
        return self.uniform(12 * 3600, 72 * 3600)

    def desktop_browser(self) -> str:
        version = self.rng.choice(CHROME_VERSIONS)
        return self.rng.choice([chrome_desktop(version), chrome_desktop(version),
                                edge_desktop(version), firefox_desktop(self.rng.choice(FIREFOX_VERSIONS)),
                                chrome_mac(version), SAFARI_MAC])

    def phone_browser(self) -> str:
        return self.rng.choice([*SAFARI_IPHONE, chrome_android(self.rng.choice(CHROME_VERSIONS))])

    def link_order(self) -> list[int]:
        """The distinct links a person clicks: mostly one, the main call to action first."""
        count = self.rng.choices((1, 2, 3), weights=(65, 22, 13))[0]
        weights = [5, 2, 2, 1, 1][:LINKS]
        chosen: list[int] = []
        while len(chosen) < count:
            link = self.rng.choices(range(LINKS), weights=weights)[0]
            if link not in chosen:
                chosen.append(link)
        return chosen

    def person_clicks(self, r: Recipient, start: float, ip: str, ua: str) -> None:
        """Clicks on 1-3 different links minutes apart; sometimes a double-click."""
        r.clicked_by_person = r.opened_by_person = True
        at = start
        for n, link in enumerate(self.link_order()):
            if n:
                at += self.log_uniform(40, 900)
            self.add(at, r, "click", ip, ua, link=link)
            if self.chance(0.08):  # a double-click (or an impatient second one)
                repeat = at
                for _ in range(2 if self.chance(0.25) else 1):
                    repeat += self.uniform(0.15, 0.9)
                    self.add(repeat, r, "click", ip, ua, link=link)

    def person_reads(self, r: Recipient, at: float, *, pixel: tuple[str, str] | None,
                     click_from: tuple[str, str], p_click: float, actor: str = "person",
                     p_reopen: float = 0.2) -> None:
        """A person reads at ``at``: the pixel loads through ``pixel`` (ip, agent) unless
        images are blocked (None); perhaps they click from ``click_from`` and reopen later."""
        r.reads = True
        if pixel is not None:
            r.opened_by_person = True
            self.add(at, r, "open", *pixel, actor=actor)
            if self.chance(p_reopen):
                self.add(at + self.uniform(3600, 2 * 86400), r, "open", *pixel, actor=actor)
        if self.chance(p_click):
            self.person_clicks(r, at + self.log_uniform(4, 300), *click_from)

    def own_device(self) -> tuple[str, str]:
        """Where a webmail reader clicks from: a desktop at home or their phone."""
        if self.chance(0.55):
            return self.ip.host(HOME), self.desktop_browser()
        return self.ip.host(MOBILE), self.phone_browser()

    # -- mailbox kinds ---------------------------------------------------------------------------
    def gmail(self, r: Recipient, delivered: float) -> None:
        if self.chance(0.07):  # PF §10: Gmail's prefetch seconds after delivery, read or not
            self.add(delivered + self.uniform(2, 40), r, "open", self.ip.host(GOOGLE_NET),
                     GMAIL_PREFETCH, actor="gmail_prefetch")
        if self.chance(0.45):
            proxy = (self.ip.host(GMAIL_PROXY_NET), GMAIL_PROXY)
            self.person_reads(r, delivered + self.read_delay(), pixel=proxy,
                              click_from=self.own_device(), p_click=0.3, actor="gmail_proxy")

    def yahoo(self, r: Recipient, delivered: float) -> None:
        if self.chance(0.4):
            at = delivered + self.read_delay()
            proxy = (self.ip.host(YAHOO_NET), YAHOO_PROXY)
            if self.chance(0.2):  # PF §2: the proxy also fetches URLs in the mail
                self.add(at + self.uniform(0.5, 3), r, "click", proxy[0], YAHOO_PROXY, "GET",
                         self.rng.randrange(LINKS), actor="yahoo_proxy")
            self.person_reads(r, at, pixel=proxy, click_from=self.own_device(), p_click=0.3,
                              actor="yahoo_proxy")

    def apple_mpp(self, r: Recipient, delivered: float) -> None:
        # PF §3: prefetch on delivery whether read or not, often only on Wi-Fi and
        # charging (hours later); a second device prefetches too.
        if self.chance(0.92):
            for _ in range(2 if self.chance(0.25) else 1):
                later = self.uniform(3, 600) if self.chance(0.7) else self.uniform(3600, 10 * 3600)
                self.add(delivered + later, r, "open", self.ip.relay(), APPLE_MPP, actor="apple_mpp")
        if self.chance(0.5):
            # The reading itself is invisible (images come from Apple's cache); a click
            # comes from the phone, through the carrier or Private Relay (Safari).
            ip = self.ip.relay() if self.chance(0.35) else self.ip.host(MOBILE)
            r.reads = True
            if self.chance(0.3):
                self.person_clicks(r, delivered + self.read_delay() + self.log_uniform(4, 300),
                                   ip, self.rng.choice(SAFARI_IPHONE))

    def outlook(self, r: Recipient, delivered: float) -> None:
        if self.chance(0.5):
            net = VDI if self.chance(0.12) else (HOME if self.chance(0.4) else OFFICE)
            ip = self.ip.host(net)
            version = self.rng.choice(CHROME_VERSIONS)
            browser = self.rng.choice([edge_desktop(version), chrome_desktop(version)])
            blocked = self.chance(0.3)
            pixel = None if blocked else (ip, self.rng.choice(OUTLOOK))
            self.person_reads(r, delivered + self.read_delay(), pixel=pixel, click_from=(ip, browser),
                              p_click=0.3)

    def phone(self, r: Recipient, delivered: float) -> None:
        # Reads the notification at once, in a mobile browser, on the carrier network.
        if self.chance(0.9):
            device = (self.ip.host(MOBILE), self.phone_browser())
            self.person_reads(r, delivered + self.uniform(15, 120), pixel=device, click_from=device,
                              p_click=0.35)

    def apple_mail(self, r: Recipient, delivered: float) -> None:
        if self.chance(0.5):
            ip = self.ip.host(HOME)
            self.person_reads(r, delivered + self.read_delay(), pixel=(ip, APPLE_MAIL_MAC),
                              click_from=(ip, SAFARI_MAC), p_click=0.3)

    def thunderbird(self, r: Recipient, delivered: float) -> None:
        if self.chance(0.5):
            ip = self.ip.host(HOME)
            pixel = (ip, THUNDERBIRD) if self.chance(0.2) else None  # remote content allowed
            self.person_reads(r, delivered + self.read_delay(), pixel=pixel,
                              click_from=(ip, firefox_desktop(self.rng.choice(FIREFOX_VERSIONS))),
                              p_click=0.35)

    def corporate(self, r: Recipient, sent: float) -> None:
        gateway = self.rng.choice(self.gateway_pools[r.gateway])
        ip = lambda: self.rng.choice(gateway["addresses"])  # noqa: E731
        agent = self.rng.choice(gateway["agents"])
        actor = f"gateway_{r.gateway}"
        links = list(range(LINKS))
        if r.gateway == "burst":
            # Every link within a second (PF §6, §10: craft-campaign#546, median 43 s after
            # sending, 66% at 20-60 s, 28% at 1-5 min).
            roll = self.rng.random()
            start = (self.uniform(3, 20) if roll < 0.06 else self.uniform(20, 60) if roll < 0.72
                     else self.uniform(60, 300))
            source = ip()
            self.rng.shuffle(links)
            offsets = sorted(self.uniform(0, 0.9) for _ in links)
            for link, offset in zip(links, offsets, strict=True):
                self.add(start + offset, r, "click", source, agent, link=link, actor=actor)
        elif r.gateway == "detonation":
            # One link, 5-60 s after sending, sometimes two GETs in the same second (PF §10).
            start = self.uniform(5, 60)
            link = 0 if self.chance(0.7) else self.rng.randrange(LINKS)
            source = ip()
            self.add(start, r, "click", source, agent, link=link, actor=actor)
            if self.chance(0.4):
                self.add(start + self.uniform(0.05, 0.6), r, "click", source, agent, link=link,
                         actor=actor)
        elif r.gateway == "head":
            # HEAD of every link; some checkers then GET the first one (PF §4, §6: FusionAuth).
            at = self.uniform(2, 90)
            source = ip()
            for link in range(LINKS):
                at += self.uniform(0.05, 0.4)
                self.add(at, r, "click", source, agent, "HEAD", link, actor=actor)
            if self.chance(0.4):
                self.add(at + self.uniform(0.1, 1.5), r, "click", source, agent, "GET", 0, actor=actor)
        elif r.gateway == "eop":
            # Microsoft's own range, a non-browser agent or the Chrome/57 of gophish#973;
            # a few links, a second or two apart.
            at = self.uniform(1, 45)
            for link in sorted(self.rng.sample(links, self.rng.randint(1, LINKS))):
                self.add(at, r, "click", ip(), agent, link=link, actor=actor)
                if agent.startswith("Mozilla/5.0 (Windows NT 6.1") and self.chance(0.5):
                    self.add(at + self.uniform(0.05, 0.6), r, "click", ip(), agent, link=link,
                             actor=actor)
                at += self.uniform(1.2, 3)
        # The person behind the gateway, minutes to days later, from their own network.
        if self.chance(0.55):
            net = ZSCALER if self.chance(0.35) else OFFICE
            own = self.ip.host(net)
            version = self.rng.choice(CHROME_VERSIONS)
            browser = self.rng.choice([edge_desktop(version), chrome_desktop(version)])
            pixel = None if self.chance(0.25) else (own, self.rng.choice(OUTLOOK))
            self.person_reads(r, sent + 120 + self.read_delay(), pixel=pixel, click_from=(own, browser),
                              p_click=0.35)

    # -- the campaign ----------------------------------------------------------------------------
    def build(self) -> Campaign:
        rng = self.rng
        counts = {kind: round(weight * self.size) for kind, weight in MAILBOX_WEIGHTS.items()}
        counts["gmail"] += self.size - sum(counts.values())
        kinds = [kind for kind, n in counts.items() for _ in range(n)]
        rng.shuffle(kinds)
        gateways = list(GATEWAY_WEIGHTS)
        recipients = []
        for index, mailbox in enumerate(kinds):
            gateway = ""
            if mailbox == "corporate":
                gateway = rng.choices(gateways, weights=list(GATEWAY_WEIGHTS.values()))[0]
            recipients.append(Recipient(index, mailbox, gateway))
        for r in recipients:
            delivered = self.uniform(1, 20)
            if r.mailbox == "corporate":
                self.corporate(r, 0.0)
            else:
                getattr(self, r.mailbox)(r, delivered)
        self.events.sort(key=lambda e: (e.at, e.message))
        return Campaign(self.seed, recipients, self.events)


def make_campaign(seed: int = SEED, size: int = SIZE) -> Campaign:
    return Builder(seed, size).build()


def describe(campaign: Campaign) -> str:
    rs = campaign.recipients
    lines = [f"seed {campaign.seed}: {len(rs)} recipients, {len(campaign.events)} requests"]
    by_label = Counter(r.label for r in rs)
    for label in sorted(by_label):
        group = [r for r in rs if r.label == label]
        lines.append(f"  {label:22} {len(group):4}  read {sum(r.reads for r in group):3}  "
                     f"opened by a person {sum(r.opened_by_person for r in group):3}  "
                     f"clicked by a person {sum(r.clicked_by_person for r in group):3}")
    actors = Counter((e.actor, e.kind, e.method) for e in campaign.events)
    lines.append("  requests: " + ", ".join(f"{a} {k} {m}: {n}" for (a, k, m), n in sorted(actors.items())))
    naive_open, naive_click = campaign.naive()
    lines.append(f"  truth: opened by a person {campaign.opened_by_person}, clicked by a person "
                 f"{campaign.clicked_by_person}; naive tracker: opened {naive_open}, "
                 f"clicked {naive_click}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(describe(make_campaign(int(sys.argv[1]) if len(sys.argv) > 1 else SEED)))
