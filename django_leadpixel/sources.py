"""The source vocabulary: who made an open or a click, and how the sources group.

Pure. Every module that names a source or a group of sources takes it from
here: the classifier, the models, the reports, the API, the admin and charts.
"""

from __future__ import annotations

from enum import Enum


class Source(str, Enum):
    """The stored verdict of an event (``Open.source``, ``Click.source``)."""

    HUMAN = "human"
    GOOGLE_PROXY = "google_proxy"
    YAHOO_PROXY = "yahoo_proxy"
    APPLE_MPP = "apple_mpp"
    OTHER_PROXY = "other_proxy"
    SCANNER = "scanner"
    BOT = "bot"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return LABELS[self.value]


LABELS: dict[str, str] = {
    "human": "Person",
    "google_proxy": "Google Image Proxy",
    "yahoo_proxy": "Yahoo Mail Proxy",
    "apple_mpp": "Apple Mail Privacy Protection",
    "other_proxy": "Other mail proxy",
    "scanner": "Security scanner",
    "bot": "Bot",
    "unknown": "Unknown",
}
# (value, label) pairs in display order: model and form choices.
SOURCES: tuple[tuple[str, str], ...] = tuple((s.value, LABELS[s.value]) for s in Source)
VALUES: tuple[str, ...] = tuple(s.value for s in Source)

# Machines that fetch on a reader's behalf: the mail WAS opened, but the IP and
# device are the proxy's, never the reader's (README "Enrichment").
MACHINE_FOR_READER: frozenset[str] = frozenset(
    {"google_proxy", "yahoo_proxy", "apple_mpp", "other_proxy"})
# Machines acting for nobody: the event says nothing about the reader.
MACHINE_NO_READER: frozenset[str] = frozenset({"scanner", "bot"})
# Every machine: no place and no device is ever given to its events.
MASKED: frozenset[str] = MACHINE_FOR_READER | MACHINE_NO_READER

# Sources that show a person opened the mail. Gmail's, Yahoo's and the other
# open-time image proxies fetch the pixel when the reader opens the message, so
# they prove an open by a person (but never where or on what device). Apple
# Mail Privacy Protection prefetches on delivery; scanners and bots are
# machines with no reader behind them.
PERSON_SOURCES: tuple[str, ...] = ("human", "google_proxy", "yahoo_proxy", "other_proxy")
PROXY_SOURCES: tuple[str, ...] = ("google_proxy", "yahoo_proxy", "apple_mpp", "other_proxy")
MACHINE_SOURCES: tuple[str, ...] = ("apple_mpp", "scanner", "bot")
# Sources of clicks the scanners' figures count.
SCANNER_CLICK_SOURCES: tuple[str, ...] = ("scanner", "bot")
