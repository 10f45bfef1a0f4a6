"""A small campaign with known truth for the honest-rates estimate (``reports.rates``).

``make_rates_campaign(seed)`` builds recipients of six mailbox kinds and every
request their mail causes, from a ``random.Random(seed)``. Pure Python;
``tests/reports/test_rates.py`` plays it through the real views.

What it is made to test:

- a hidden-reader share: Apple Mail Privacy Protection mailboxes, whose
  reading never reaches the tracker (the prefetch on delivery does, in most
  messages; a recipient whose prefetch was missed this time had one seen on an
  earlier message, so the stored verdicts can know every Apple mailbox);
- a click rate that differs by cohort: the mailbox kinds read at different
  rates (phone readers nearly always, Gmail readers half the time), so clicks
  per message sent differ; a reader's chance to click once they read is the
  same everywhere, the one assumption the estimate makes;
- readers who block images (Outlook's and Thunderbird's defaults): they read,
  and may click, with no image loaded.

Truth per recipient:

- ``opened``: the estimate's target: the person read the mail and either their
  reading was seen (the pixel loaded by their client or a reader's proxy), or
  they clicked, or they read behind Apple's proxy. Readers who block images and
  never click are not part of it (nothing of them reaches the tracker);
- ``blocked``: images blocked and a click.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .campaign import (
    APPLE_MPP,
    GMAIL_PROXY,
    GMAIL_PROXY_NET,
    HOME,
    MOBILE,
    OFFICE,
    OUTLOOK,
    SAFARI_IPHONE,
    THUNDERBIRD,
    YAHOO_NET,
    YAHOO_PROXY,
    Addresses,
    chrome_android,
    chrome_desktop,
    edge_desktop,
    firefox_desktop,
)

SIZE = 160
LINKS = 3
CLICK_TO_OPEN = 0.4  # every reader's chance to click, whatever their mailbox
# kind: (share of recipients, chance to read, chance that images are blocked)
KINDS = {
    "apple": (0.35, 0.65, 0.0),
    "gmail": (0.25, 0.50, 0.0),
    "yahoo": (0.05, 0.45, 0.0),
    "outlook": (0.15, 0.60, 0.30),
    "phone": (0.10, 0.85, 0.0),
    "thunderbird": (0.10, 0.50, 0.80),
}
EARLIER = 7 * 86400  # the earlier message of Apple recipients: sent a week before


@dataclass(frozen=True)
class Hit:
    at: float  # seconds after this campaign's sending (negative: the earlier message)
    recipient: int
    earlier: bool  # a hit of the earlier message
    kind: str  # "open" or "click"
    ip: str
    user_agent: str
    link: int = 0


@dataclass
class Reader:
    index: int
    kind: str
    reads: bool = False
    blocked: bool = False
    clicked: bool = False
    earlier_message: bool = False

    @property
    def opened(self) -> bool:
        return self.reads and (not self.blocked or self.clicked)

    @property
    def blocked_and_clicked(self) -> bool:
        return self.blocked and self.clicked


@dataclass
class RatesCampaign:
    seed: int
    readers: list[Reader]
    hits: list[Hit] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return sum(r.opened for r in self.readers)

    @property
    def blocked(self) -> int:
        return sum(r.blocked_and_clicked for r in self.readers)

    @property
    def hidden_readers(self) -> int:
        return sum(r.reads for r in self.readers if r.kind == "apple")


def make_rates_campaign(seed: int, size: int = SIZE) -> RatesCampaign:
    rng = random.Random(seed)
    ip = Addresses(rng)
    counts = {kind: round(share * size) for kind, (share, _r, _b) in KINDS.items()}
    counts["apple"] += size - sum(counts.values())
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    readers = [Reader(i, kind) for i, kind in enumerate(kinds)]
    hits: list[Hit] = []

    def read_delay() -> float:
        return rng.uniform(60, 12 * 3600) if rng.random() < 0.7 else rng.uniform(12 * 3600, 48 * 3600)

    def clicks(r: Reader, at: float, source: tuple[str, str]) -> None:
        r.clicked = True
        hits.append(Hit(at + rng.uniform(5, 240), r.index, False, "click", *source,
                        link=rng.randrange(LINKS)))

    for r in readers:
        _share, p_read, p_blocked = KINDS[r.kind]
        delivered = rng.uniform(1, 20)
        r.reads = rng.random() < p_read
        r.blocked = r.reads and rng.random() < p_blocked
        click = r.reads and rng.random() < CLICK_TO_OPEN
        if r.kind == "apple":
            prefetched = rng.random() < 0.9
            if prefetched:
                hits.append(Hit(delivered + rng.uniform(3, 600), r.index, False, "open",
                                ip.relay(), APPLE_MPP))
            # Every Apple mailbox shows a prefetch on some message: this one or the earlier.
            if not prefetched or rng.random() < 0.5:
                r.earlier_message = True
                hits.append(Hit(-EARLIER + rng.uniform(3, 600), r.index, True, "open",
                                ip.relay(), APPLE_MPP))
            if click:
                clicks(r, delivered + read_delay(), (ip.host(MOBILE), rng.choice(SAFARI_IPHONE)))
            continue
        if not r.reads:
            continue
        at = delivered + read_delay()
        if r.kind == "gmail":
            pixel = (ip.host(GMAIL_PROXY_NET), GMAIL_PROXY)
            own = (ip.host(HOME), chrome_desktop(rng.choice((140, 141, 142))))
        elif r.kind == "yahoo":
            pixel = (ip.host(YAHOO_NET), YAHOO_PROXY)
            own = (ip.host(MOBILE), chrome_android(141))
        elif r.kind == "outlook":
            address = ip.host(OFFICE)
            pixel = (address, rng.choice(OUTLOOK))
            own = (address, edge_desktop(141))
        elif r.kind == "phone":
            at = delivered + rng.uniform(30, 3600)
            own = (ip.host(MOBILE), rng.choice(SAFARI_IPHONE))
            pixel = own
        else:  # thunderbird
            address = ip.host(HOME)
            pixel = (address, THUNDERBIRD)
            own = (address, firefox_desktop(144))
        if not r.blocked:
            hits.append(Hit(at, r.index, False, "open", *pixel))
        if click:
            clicks(r, at, own)
    hits.sort(key=lambda h: (h.at, h.recipient, h.kind))
    return RatesCampaign(seed, readers, hits)
