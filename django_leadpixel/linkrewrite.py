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
from html.parser import HTMLParser

from . import tokens
from .conf import app_settings

_UNSUBSCRIBE = re.compile(r"unsubscribe|data-leadpixel\s*=\s*[\"']?skip", re.IGNORECASE)
# One attribute of a start tag, as the HTML tokenizer reads it: a name, then
# optionally "=" and a double-quoted, single-quoted or bare value.
_ATTRIBUTE = re.compile(
    r"""(?P<space>\s+)(?P<name>[^\s/>"'=]+)"""
    r"""(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s"'<>`]+))?""")


def should_track(href: str, tag: str) -> bool:
    """Only absolute http(s) links that are not unsubscribe links are tracked.

    An unsubscribe link is left alone when the tag or URL says so
    (``data-unsubscribe``, ``class="unsubscribe"``, ``data-leadpixel="skip"``,
    or "unsubscribe" in the URL): scanners click every link, and a tracked
    unsubscribe link would be followed by a machine.
    """
    if _UNSUBSCRIBE.search(tag):
        return False
    try:
        tokens.check_destination(href)
    except tokens.UnsafeDestination:
        return False
    return True


class _Anchors(HTMLParser):
    """Collects the source text and offset of every ``<a>`` start tag."""

    def __init__(self, content: str) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[tuple[int, str]] = []
        # Offsets of the start of each line, to turn getpos() into an offset.
        self._lines = [0]
        for match in re.finditer("\n", content):
            self._lines.append(match.end())

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            line, column = self.getpos()
            self.found.append((self._lines[line - 1] + column, self.get_starttag_text() or ""))

    handle_startendtag = handle_starttag


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


def rewrite_links(content: str, message_id: uuid.UUID, *, consent: bool = True) -> str:
    """Every trackable ``href`` of ``content`` replaced by its signed click URL.

    Links are numbered by position from 1. A link that cannot be tracked (not
    http(s), an unsubscribe link, too long for a token) is left as it is.
    """
    parser = _Anchors(content)
    parser.feed(content)
    parser.close()
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

    for offset, tag in parser.found:
        if content.startswith(tag, offset):
            out.append(content[last:offset])
            out.append(_rewrite_tag(tag, lambda href, tag=tag: replace(href, tag)))
            last = offset + len(tag)
    out.append(content[last:])
    rewritten = "".join(out)
    if app_settings.HONEYPOT_LINK:
        # Invisible to people (hidden, out of the tab order, no text); scanners
        # that follow every href in the message click it.
        trap = tokens.click_url(message_id, app_settings.BASE_URL, 0, honeypot=True,
                                consent=consent)
        rewritten = (
            f'<a href="{html.escape(trap)}" style="display:none !important" '
            f'aria-hidden="true" tabindex="-1"></a>' + rewritten
        )
    return rewritten
