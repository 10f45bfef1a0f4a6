"""Check an email's HTML before it is sent.

``lint_html(html, campaign=False) -> list[Finding]``: each finding has a stable
``code`` (the table in README "Sending tracked email", and ``CODES`` below), a
``severity`` (``"error"`` or ``"warning"``), a ``message`` that says what to
do, and the ``line`` it was found on (0 for the whole document).

Pure: the HTML is read with the same tokenizer as the link rewrite
(``linkrewrite.start_tags``); nothing is stored. Regular expressions only
judge short values (a file name, an alt text), never the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from . import tokens
from .linkrewrite import StartTag, is_unsubscribe, start_tags

ERROR = "error"
WARNING = "warning"

# Gmail clips a message whose HTML is over about 102 KB ("[Message clipped]"):
# what follows, a pixel at the end included, is not loaded until "View entire message".
CLIP_BYTES = 102 * 1024

# code: (severity, what it means). The README's table lists the same codes.
CODES: dict[str, tuple[str, str]] = {
    "pixel-missing": (ERROR, "no tracking pixel"),
    "pixel-after-clip": (ERROR, "the pixel comes after Gmail's clip point"),
    "body-clipped": (WARNING, "the HTML is over Gmail's clip limit (about 102 KB)"),
    "img-alt-missing": (WARNING, "an image has no alt attribute"),
    "img-name-meaningless": (WARNING, "an image's file name or alt text says nothing"),
    "link-http": (WARNING, "a plain http: link"),
    "link-untracked": (WARNING, "a trackable link was left untracked"),
    "unsubscribe-missing": (ERROR, "a campaign email without an unsubscribe link"),
    "link-javascript": (ERROR, "a javascript: link"),
    "form": (WARNING, "a form (mail clients strip or disable forms)"),
    "script": (ERROR, "a script (mail clients strip scripts)"),
}

TOKEN_MARK = "LEADPIXELTOKEN"
# File names (without extension) that name nothing: camera and screenshot
# defaults, numbered "image1", hashes, uuids, template placeholders left unfilled.
MEANINGLESS_NAME = re.compile(
    r"""^(?:
        (?:image|img|pic|picture|photo|foto|untitled|unnamed|file|asset|graphic|banner)[\s_-]*\d*
      | (?:img|dsc|dscn|dscf|dcim|pxl|mvimg)[\s_-]*[\d\s_.-]*
      | (?:screenshot|screen[\s_-]?shot|bildschirmfoto|capture)(?:[\s_-].*)?
      | [0-9a-f]{12,}
      | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
      | [\d\s_.-]+
      | \[.*\] | \{.*\} | %.*% | \$.*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
MEANINGLESS_ALT = re.compile(
    r"^(?:image|img|picture|pic|photo|graphic|logo|banner|icon|spacer|alt|\.|-|_)\s*\d*$",
    re.IGNORECASE)
IMAGE_EXTENSION = re.compile(r"\.(?:png|jpe?g|gif|webp|svg|bmp|tiff?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    line: int = 0

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.severity} {self.code}: {self.message}"


def prefixes() -> tuple[str, str]:
    """The start of this site's pixel URLs and click URLs (absolute when
    ``BASE_URL`` is set, else their path)."""
    try:
        opened = reverse("leadpixel:open", args=[TOKEN_MARK])
        clicked = reverse("leadpixel:click", args=[TOKEN_MARK])
    except NoReverseMatch:  # the app's URLs are not mounted: nothing is ours
        return "\0", "\0"
    try:
        opened, clicked = tokens.absolute_url(opened), tokens.absolute_url(clicked)
    except ImproperlyConfigured:
        pass
    return opened.split(TOKEN_MARK)[0], clicked.split(TOKEN_MARK)[0]


def split(url: str) -> SplitResult | None:
    """``urlsplit(url)``, or None for text it refuses (``http://[::1``)."""
    try:
        return urlsplit(url.strip())
    except ValueError:
        return None


def is_ours(url: str, prefix: str) -> bool:
    if url.startswith(prefix):
        return True
    # Without BASE_URL the prefix is a path: compare the URL's path.
    parts = split(url)
    return prefix.startswith("/") and parts is not None and parts.path.startswith(prefix)


def attr(tag: StartTag, name: str) -> str | None:
    for key, value in tag.attrs:
        if key == name:
            return value if value is not None else ""
    return None


def url_scheme(url: str) -> str:
    parts = split(url)
    return parts.scheme.lower() if parts is not None else ""


def destination_of(url: str) -> str | None:
    """Where one of our click URLs leads (None when its token does not read)."""
    parts = split(url)
    if parts is None:
        return None
    try:
        return tokens.read_click_token(parts.path.rstrip("/").rsplit("/", 1)[-1]).destination
    except (tokens.BadToken, ValueError):
        return None


def file_stem(src: str) -> str:
    parts = split(src)
    path = unquote(parts.path) if parts is not None else ""
    name = path.rsplit("/", 1)[-1]
    return IMAGE_EXTENSION.sub("", name)


def lint_html(html: str, *, campaign: bool = False) -> list[Finding]:
    """The findings of ``html``, in document order (whole-document ones first).

    ``campaign``: the email belongs to a campaign, so it must carry an
    unsubscribe link.
    """
    tags = start_tags(html, ("a", "img", "form", "script", "body"))
    pixel_prefix, click_prefix = prefixes()
    findings: list[Finding] = []

    def add(code: str, message: str, tag: StartTag | None = None) -> None:
        line = html.count("\n", 0, tag.offset) + 1 if tag is not None else 0
        findings.append(Finding(code, CODES[code][0], message, line))

    pixels = [t for t in tags if t.name == "img" and is_ours(attr(t, "src") or "", pixel_prefix)]
    size = len(html.encode("utf-8"))
    if not pixels:
        add("pixel-missing", "No tracking pixel: put {% lead_pixel %} right after <body>, or send "
                             "through django_leadpixel.mail.TrackingBackend.")
    else:
        first = pixels[0]
        end = len(html[:first.offset + len(first.text)].encode("utf-8"))
        if end > CLIP_BYTES:
            add("pixel-after-clip", f"The pixel ends at byte {end}, after Gmail's clip point "
                                    f"({CLIP_BYTES} bytes): move it right after <body>.", first)
    if size > CLIP_BYTES:
        add("body-clipped", f"The HTML is {size} bytes; Gmail clips over {CLIP_BYTES}: shorten it "
                            f"(inline less CSS, drop comments) or link to the rest.")

    links = [t for t in tags if t.name == "a" and attr(t, "href") is not None]
    tracked_any = bool(pixels) or any(is_ours((attr(t, "href") or "").strip(), click_prefix)
                                      for t in links)
    if campaign and not any(is_unsubscribe(t.text) for t in links):
        add("unsubscribe-missing", "A campaign email needs an unsubscribe link: add one whose URL or "
                                   "tag says 'unsubscribe' (or data-unsubscribe).")
    for tag in tags:
        if tag.name == "img" and tag not in pixels:
            lint_image(tag, add)
        elif tag.name == "a" and attr(tag, "href") is not None:
            href = (attr(tag, "href") or "").strip()
            tracked = is_ours(href, click_prefix)
            if tracked:  # judge where our redirect leads
                href = destination_of(href) or href
            scheme = url_scheme(href)
            compact = "".join(href.split()).lower()
            if compact.startswith("javascript:"):
                add("link-javascript", "A javascript: link does nothing in a mail client and "
                                       "looks like phishing to filters: link to a web page.", tag)
            elif scheme == "http":
                add("link-http", f"Plain http link {href[:80]!r}: use https.", tag)
            if (tracked_any and not tracked and scheme in ("http", "https")
                    and not is_unsubscribe(tag.text)):
                add("link-untracked", f"Link {href[:80]!r} is not tracked while others are: "
                                      f"put it inside {{% track_links %}} (or mark it "
                                      f"data-leadpixel=\"skip\"); a URL too long for a "
                                      f"token stays untracked too.", tag)
        elif tag.name == "form":
            add("form", "Mail clients strip or disable forms: link to a form on your site.", tag)
        elif tag.name == "script":
            add("script", "Mail clients strip scripts, and filters mark mail with them as "
                          "spam: remove it.", tag)
    return findings


def lint_image(tag: StartTag, add) -> None:
    src = attr(tag, "src") or ""
    alt = attr(tag, "alt")
    if attr(tag, "width") == "1" and attr(tag, "height") == "1":
        return  # a spacer or another tracker's pixel: nobody reads it
    if alt is None:
        add("img-alt-missing", f"Image {src[:80]!r} has no alt text: readers with images off see "
                               f"nothing. Describe it (or alt=\"\" if it is decoration).", tag)
    stem = file_stem(src)
    if stem and MEANINGLESS_NAME.match(stem):
        add("img-name-meaningless", f"Image file name {stem!r} says nothing: name images by their "
                                    f"content (readers load images that look meaningful).", tag)
    elif alt and (MEANINGLESS_ALT.match(alt.strip()) or IMAGE_EXTENSION.search(alt.strip())
                  or MEANINGLESS_NAME.match(IMAGE_EXTENSION.sub("", alt.strip()))):
        add("img-name-meaningless", f"Alt text {alt[:60]!r} says nothing: describe what the image "
                                    f"shows.", tag)
