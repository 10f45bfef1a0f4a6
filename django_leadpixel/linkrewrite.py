"""Rewrite the links of rendered email HTML through signed click URLs.

The HTML is read with the standard library's tokenizer (``html.parser``), not
a regular expression over the text: only a real ``href`` attribute of a real
``<a>`` tag is rewritten, never ``href='...'`` written inside another
attribute's value, a comment or a script. Everything else is kept byte for
byte.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import NamedTuple

from . import tokens
from .conf import app_settings

_UNSUBSCRIBE = re.compile(r"unsubscribe|data-leadpixel\s*=\s*[\"']?skip", re.IGNORECASE)
# One attribute of a start tag, as the HTML tokenizer reads it: a name, then
# optionally "=" and a double-quoted, single-quoted or bare value.
_ATTRIBUTE = re.compile(
    r"""(?P<space>\s+)(?P<name>[^\s/>"'=]+)"""
    r"""(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s"'<>`]+))?""")


def is_unsubscribe(tag: str) -> bool:
    """Whether the source text of an ``<a>`` tag makes it an unsubscribe link."""
    return _UNSUBSCRIBE.search(tag) is not None


def should_track(href: str, tag: str) -> bool:
    """Only absolute http(s) links that are not unsubscribe links are tracked.

    An unsubscribe link is left alone when the tag or URL says so
    (``data-unsubscribe``, ``class="unsubscribe"``, ``data-leadpixel="skip"``,
    or "unsubscribe" in the URL): scanners click every link, and a tracked
    unsubscribe link would be followed by a machine.
    """
    if is_unsubscribe(tag):
        return False
    try:
        tokens.check_destination(href)
    except tokens.UnsafeDestination:
        return False
    return True


class StartTag(NamedTuple):
    """One start tag as the tokenizer read it: where it begins in the text (a
    character offset), its exact source text, its lower-cased name and its
    attributes (names lower-cased, values unescaped; None for a bare name)."""

    offset: int
    text: str
    name: str
    attrs: list[tuple[str, str | None]]


class _StartTags(HTMLParser):
    """Collects the start tags named ``names`` (all of them when empty)."""

    def __init__(self, content: str, names: frozenset[str]) -> None:
        super().__init__(convert_charrefs=False)
        self.names = names
        self.found: list[StartTag] = []
        # Offsets of the start of each line, to turn getpos() into an offset.
        self._lines = [0]
        for match in re.finditer("\n", content):
            self._lines.append(match.end())

    def handle_starttag(self, tag, attrs):
        if not self.names or tag in self.names:
            line, column = self.getpos()
            self.found.append(StartTag(self._lines[line - 1] + column,
                                       self.get_starttag_text() or "", tag, attrs))

    handle_startendtag = handle_starttag


def start_tags(content: str, names: Iterable[str] = ()) -> list[StartTag]:
    """The start tags of ``content`` named ``names`` (all when empty), in order.

    Read by ``html.parser``: tags inside comments (Outlook's ``<!--[if mso]>``
    blocks included), scripts and attribute values are not tags and are not
    returned. Each tag's ``text`` is found at its ``offset`` in ``content``.
    """
    parser = _StartTags(content, frozenset(names))
    parser.feed(content)
    parser.close()
    return [tag for tag in parser.found if content.startswith(tag.text, tag.offset)]


def _rewrite_tag(tag: str, replace) -> str:
    """``tag`` with its first ``href`` value passed through ``replace`` (or as it was)."""
    position = len("<a")
    while True:
        match = _ATTRIBUTE.match(tag, position)
        if match is None:
            return tag
        if match["name"].lower() == "href" and match["value"] is not None:
            value = match["value"]
            quote = value[0] if value[0] in "\"'" else ""
            raw = value[1:-1] if quote else value
            new = replace(html.unescape(raw).strip())
            if new is None:
                return tag
            quote = quote or '"'
            start, end = match.span("value")
            return f"{tag[:start]}{quote}{html.escape(new)}{quote}{tag[end:]}"
        position = match.end()


def rewrite_links(content: str, message_id: uuid.UUID, *, consent: bool = True,
                  honeypot: bool | None = None, after_body: str = "") -> str:
    """Every trackable ``href`` of ``content`` replaced by its signed click URL.

    Links are numbered by position from 1. A link that cannot be tracked (not
    http(s), an unsubscribe link, too long for a token) is left as it is.
    ``honeypot``: put the hidden honeypot link first (None: as
    ``LEADPIXEL["HONEYPOT_LINK"]`` says). ``after_body``: markup to insert right
    after the ``<body>`` start tag, or first when there is none (in the same
    reading of the HTML: ``mail.instrument`` puts the pixel there).
    """
    out, last, position = [], 0, 0

    def replace(href: str, tag: str) -> str | None:
        nonlocal position
        if not should_track(href, tag):
            return None
        try:
            url = tokens.click_url(message_id, href, position + 1, consent=consent)
        except tokens.DestinationTooLong:
            return None
        position += 1
        return url

    body_seen = not after_body
    tags = start_tags(content, ("a", "body") if after_body else ("a",))
    if after_body and not any(tag.name == "body" for tag in tags):
        out.append(after_body)
        body_seen = True
    for offset, tag, name, _attrs in tags:
        out.append(content[last:offset])
        if name == "body":
            out.append(tag)
            if not body_seen:
                out.append(after_body)
                body_seen = True
        else:
            out.append(_rewrite_tag(tag, lambda href, tag=tag: replace(href, tag)))
        last = offset + len(tag)
    out.append(content[last:])
    rewritten = "".join(out)
    if app_settings.HONEYPOT_LINK if honeypot is None else honeypot:
        rewritten = honeypot_link(message_id, consent=consent) + rewritten
    return rewritten


def honeypot_link(message_id: uuid.UUID, *, consent: bool = True) -> str:
    """The hidden honeypot link of a message.

    Invisible to people (hidden, out of the tab order, no text); scanners that
    follow every href in the message click it.
    """
    trap = tokens.click_url(message_id, app_settings.BASE_URL, 0, honeypot=True, consent=consent)
    return (f'<a href="{html.escape(trap)}" style="display:none !important" '
            f'aria-hidden="true" tabindex="-1"></a>')


def pixel_img(url: str) -> str:
    """The markup of the 1x1 tracking image at ``url`` (``{% lead_pixel %}`` and
    ``mail.instrument`` put the same tag)."""
    return (f'<img src="{html.escape(url)}" width="1" height="1" alt="" border="0" '
            f'style="display:block;width:1px;height:1px;border:0;">')
