"""Rewrite the links of rendered email HTML through signed click URLs."""

from __future__ import annotations

import html
import re
import uuid

from . import tokens
from .conf import app_settings

# <a ... href="..."> with either quote style; the rest of the tag is kept as is.
_ANCHOR = re.compile(
    r"""<a\b(?P<before>[^>]*?)\bhref\s*=\s*(?P<q>["'])(?P<href>.*?)(?P=q)(?P<after>[^>]*)>""",
    re.IGNORECASE | re.DOTALL,
)
_UNSUBSCRIBE = re.compile(r"unsubscribe|data-leadpixel\s*=\s*[\"']?skip", re.IGNORECASE)


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


def rewrite_links(content: str, message_id: uuid.UUID) -> str:
    position = 0

    def replace(match: re.Match) -> str:
        nonlocal position
        href = html.unescape(match["href"]).strip()
        if not should_track(href, match.group(0)):
            return match.group(0)
        position += 1
        url = tokens.click_url(message_id, href, position)
        q = match["q"]
        return f"<a{match['before']}href={q}{html.escape(url)}{q}{match['after']}>"

    rewritten = _ANCHOR.sub(replace, content)
    if app_settings.HONEYPOT_LINK:
        # Invisible to people (hidden, out of the tab order, no text); scanners
        # that follow every href in the message click it.
        trap = tokens.click_url(message_id, app_settings.BASE_URL, 0, honeypot=True)
        rewritten = (
            f'<a href="{html.escape(trap)}" style="display:none !important" '
            f'aria-hidden="true" tabindex="-1"></a>' + rewritten
        )
    return rewritten
