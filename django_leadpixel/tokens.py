"""Signed pixel and click tokens.

A token is ``base32(payload + mac)`` in lowercase without padding. Base32 is
case-insensitive on purpose: some mail clients and link scanners lowercase
URLs, and a token that breaks then loses a real click. The MAC is Django's
``salted_hmac`` (SHA-256, cut to ``MAC_BYTES``) with one salt per kind, so a
pixel token is never accepted as a click token; keys rotate through
``SECRET_KEY_FALLBACKS``.

Payloads (all integers big-endian):
- open:  version(1) | message public id (16)
- click: version(1) | message public id (16) | flags(1) | position(2) | destination (UTF-8,
  zlib-compressed when flags & COMPRESSED)
- visitor: version(1) | message public id (16) | click event id (16): the value a click
  appends to a destination on the sender's own site (``VISIT_HOSTS``), under its own
  salt, so it can be neither forged nor moved to another message or click

The click token carries its destination so the redirect works with the
database down and after retention has purged the message.
"""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from .conf import app_settings
from .exceptions import BadToken, DestinationTooLong, UnsafeDestination

__all__ = ["BadToken", "DestinationTooLong", "UnsafeDestination", "ClickTarget", "OpenTarget",
           "make_open_token", "read_open_token", "read_open", "make_click_token",
           "read_click_token", "check_destination", "pixel_url", "click_url", "absolute_url",
           "ImageTarget", "DownloadTarget", "check_image_path", "image_type", "slug",
           "make_image_token", "read_image", "make_download_token", "read_download", "image_url",
           "download_url", "IMAGE_TYPES",
           "Visitor", "make_visitor", "read_visitor", "visit_host", "tag_destination", "untag"]

VERSION = 1
MAC_BYTES = 12  # 96 bits: far beyond what an online guesser can try
OPEN_SALT = "django_leadpixel.tokens.open"
CLICK_SALT = "django_leadpixel.tokens.click"
VISITOR_SALT = "django_leadpixel.tokens.visitor"
MAX_TOKEN_LENGTH = 4096  # longer tokens are rejected before any decoding work
MAX_DESTINATION_LENGTH = 2000

FLAG_COMPRESSED = 1
FLAG_HONEYPOT = 2
# The message was sent without tracking consent: the request keeps no address or
# agent past classification, not even in the spool or the Redis buffer.
FLAG_NO_CONSENT = 4


@dataclass(frozen=True, slots=True)
class ClickTarget:
    message_id: uuid.UUID
    destination: str
    position: int
    honeypot: bool = False
    consent: bool = True


@dataclass(frozen=True, slots=True)
class OpenTarget:
    message_id: uuid.UUID
    consent: bool = True


def _mac(salt: str, payload: bytes, secret: str | bytes) -> bytes:
    return salted_hmac(salt, payload, secret=secret, algorithm="sha256").digest()[:MAC_BYTES]


def _encode(salt: str, payload: bytes) -> str:
    raw = payload + _mac(salt, payload, settings.SECRET_KEY)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
_BASE32 = re.compile(r"[A-Za-z2-7]+")
# int(text, 32) reads the digits 0-9A-V: the same five bits per letter, spelled otherwise.
_AS_INT_DIGITS = str.maketrans(ALPHABET + ALPHABET.lower(), "0123456789ABCDEFGHIJKLMNOPQRSTUV" * 2)


def b32decode_canonical(token: str) -> bytes:
    """Bytes of an unpadded base32 token, in either case; ``BadToken`` unless canonical.

    Only the canonical spelling is valid: the last letter carries spare bits,
    and two spellings of one token would be one token twice. Same answer as
    ``base64.b32decode`` plus a re-encoding check, in C rather than a Python
    loop (a third of the pixel's token work).
    """
    if not _BASE32.fullmatch(token) or len(token) % 8 in (1, 3, 6):
        raise BadToken("not base32")
    size, spare = divmod(len(token) * 5, 8)
    value = int(token.translate(_AS_INT_DIGITS), 32)
    if value & ((1 << spare) - 1):
        raise BadToken("not canonical base32")
    return (value >> spare).to_bytes(size, "big")


def _decode(salt: str, token: str) -> bytes:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("empty or oversized token")
    raw = b32decode_canonical(token)
    if len(raw) <= MAC_BYTES + 1:
        raise BadToken("token too short")
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    if not any(constant_time_compare(mac, _mac(salt, payload, key)) for key in secrets):
        raise BadToken("bad signature")
    if payload[0] != VERSION:
        raise BadToken("unknown token version")
    return payload[1:]


def check_destination(url: str) -> str:
    """Return ``url`` if it may be signed; raise ``UnsafeDestination`` otherwise."""
    if not isinstance(url, str):
        raise UnsafeDestination(f"destination must be a string, not {type(url).__name__}")
    url = url.strip()
    if len(url) > MAX_DESTINATION_LENGTH:
        raise UnsafeDestination(f"destination longer than {MAX_DESTINATION_LENGTH} characters")
    # Control characters (CR/LF, NUL, tab) would split headers or hide the real target.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url) or "\\" in url:
        raise UnsafeDestination(f"destination contains forbidden characters: {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnsafeDestination(f"destination is not a valid URL: {url!r}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination(
            f"only absolute http:// and https:// URLs can be tracked, not {url!r}"
        )
    return url


def make_open_token(message_id: uuid.UUID, *, consent: bool = True) -> str:
    """A pixel token; one without ``consent`` carries a flag byte saying so."""
    flags = b"" if consent else bytes([FLAG_NO_CONSENT])
    return _encode(OPEN_SALT, bytes([VERSION]) + message_id.bytes + flags)


def read_open(token: str) -> OpenTarget:
    body = _decode(OPEN_SALT, token)
    if len(body) == 16:
        return OpenTarget(uuid.UUID(bytes=body))
    if len(body) != 17 or body[16] & ~FLAG_NO_CONSENT:
        raise BadToken("bad open payload")
    return OpenTarget(uuid.UUID(bytes=body[:16]), consent=not body[16] & FLAG_NO_CONSENT)


def read_open_token(token: str) -> uuid.UUID:
    return read_open(token).message_id


def make_click_token(
    message_id: uuid.UUID, destination: str, position: int = 0, *, honeypot: bool = False,
    consent: bool = True,
) -> str:
    """A click token carrying its destination, signed.

    Raises ``UnsafeDestination`` for a destination that may not be signed, and
    its subclass ``DestinationTooLong`` when the token would be longer than
    ``MAX_TOKEN_LENGTH``: such a link could never be followed (the click view
    refuses longer tokens, and servers answer 414 to such URLs).
    """
    destination = check_destination(destination)
    if not 0 <= position <= 0xFFFF:
        raise ValueError("position must be between 0 and 65535")
    data = destination.encode("utf-8")
    flags = (FLAG_HONEYPOT if honeypot else 0) | (0 if consent else FLAG_NO_CONSENT)
    packed = zlib.compress(data, 9)
    if len(packed) < len(data):
        data, flags = packed, flags | FLAG_COMPRESSED
    header = bytes([VERSION]) + message_id.bytes + bytes([flags]) + position.to_bytes(2, "big")
    token = _encode(CLICK_SALT, header + data)
    if len(token) > MAX_TOKEN_LENGTH:
        raise DestinationTooLong(
            f"destination too long to track: its token would be {len(token)} characters, "
            f"more than {MAX_TOKEN_LENGTH} (MAX_TOKEN_LENGTH); link to a shorter URL")
    return token


def read_click_token(token: str) -> ClickTarget:
    body = _decode(CLICK_SALT, token)
    if len(body) < 20:
        raise BadToken("bad click payload")
    message_id = uuid.UUID(bytes=body[:16])
    flags = body[16]
    position = int.from_bytes(body[17:19], "big")
    data = body[19:]
    try:
        if flags & FLAG_COMPRESSED:
            data = zlib.decompress(data)
        destination = data.decode("utf-8")
        # Signed by us, so it passed check_destination; re-check anyway so the
        # view can never emit an unsafe Location even if the rules tighten.
        destination = check_destination(destination)
    except (zlib.error, UnicodeDecodeError, UnsafeDestination) as exc:
        raise BadToken("bad destination") from exc
    return ClickTarget(message_id, destination, position, bool(flags & FLAG_HONEYPOT),
                       consent=not flags & FLAG_NO_CONSENT)


def absolute_url(path: str) -> str:
    """Join ``path`` to ``LEADPIXEL["BASE_URL"]`` (emails are rendered without a request)."""
    base = app_settings.BASE_URL
    if not base:
        raise ImproperlyConfigured('LEADPIXEL["BASE_URL"] must be set to build tracking URLs')
    return base.rstrip("/") + path


def pixel_url(message_id: uuid.UUID, *, consent: bool = True) -> str:
    token = make_open_token(message_id, consent=consent)
    return absolute_url(reverse("leadpixel:open", args=[token]))


def click_url(
    message_id: uuid.UUID, destination: str, position: int = 0, *, honeypot: bool = False,
    consent: bool = True,
) -> str:
    token = make_click_token(message_id, destination, position, honeypot=honeypot,
                             consent=consent)
    return absolute_url(reverse("leadpixel:click", args=[token]))


# --- tracked images and documents ----------------------------------------------------
# image:    version(1) | message public id (16) | flags(1) | image path (UTF-8)
# download: version(1) | message public id (16) | flags(1) | document public id (16)
# The slug and extension after the token are for people and mail filters only:
# the view reads nothing from them.

IMAGE_SALT = "django_leadpixel.tokens.image"
DOWNLOAD_SALT = "django_leadpixel.tokens.download"
MAX_IMAGE_PATH = 255
# Extensions an image URL may name, and what they are served as. No SVG: it
# can carry script, and this endpoint serves whatever lies in the image roots.
IMAGE_TYPES = {"png": "image/png", "gif": "image/gif", "jpg": "image/jpeg",
               "jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


@dataclass(frozen=True, slots=True)
class ImageTarget:
    message_id: uuid.UUID
    path: str
    consent: bool = True


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    message_id: uuid.UUID
    document_id: uuid.UUID
    consent: bool = True


def check_image_path(path: str) -> str:
    """``path`` if it names an image inside the roots (relative, no ``..``, a known
    extension); ``BadToken`` otherwise. Checked when signing and again when serving."""
    if not isinstance(path, str) or not path or len(path) > MAX_IMAGE_PATH:
        raise BadToken("image path empty or too long")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path) or "\\" in path or ":" in path:
        raise BadToken("image path contains forbidden characters")
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise BadToken("image path must be relative, without . or .. segments")
    if image_type(path) is None:
        raise BadToken("not an image extension")
    return path


def extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def image_type(path: str) -> str | None:
    """The Content-Type of an image path by its extension (None: not served)."""
    return IMAGE_TYPES.get(extension(path))


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def slug(text: str, fallback: str = "file", max_words: int = 8) -> str:
    """A descriptive URL word list: ``"Chart of climate change impact, ..."`` gives
    ``chart-of-climate-change-impact-...`` (ASCII, at most ``max_words`` words)."""
    ascii_text = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    words = [w for w in _SLUG_DROP.split(ascii_text.lower()) if w][:max_words]
    return "-".join(words)[:80].strip("-") or fallback


def make_image_token(message_id: uuid.UUID, path: str, *, consent: bool = True) -> str:
    path = check_image_path(path)
    flags = 0 if consent else FLAG_NO_CONSENT
    return _encode(IMAGE_SALT, bytes([VERSION]) + message_id.bytes + bytes([flags])
                   + path.encode("utf-8"))


def read_image(token: str) -> ImageTarget:
    body = _decode(IMAGE_SALT, token)
    if len(body) < 18 or body[16] & ~FLAG_NO_CONSENT:
        raise BadToken("bad image payload")
    try:
        path = check_image_path(body[17:].decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadToken("bad image path") from exc
    return ImageTarget(uuid.UUID(bytes=body[:16]), path, consent=not body[16] & FLAG_NO_CONSENT)


def make_download_token(message_id: uuid.UUID, document_id: uuid.UUID, *,
                        consent: bool = True) -> str:
    flags = 0 if consent else FLAG_NO_CONSENT
    return _encode(DOWNLOAD_SALT, bytes([VERSION]) + message_id.bytes + bytes([flags])
                   + document_id.bytes)


def read_download(token: str) -> DownloadTarget:
    body = _decode(DOWNLOAD_SALT, token)
    if len(body) != 33 or body[16] & ~FLAG_NO_CONSENT:
        raise BadToken("bad download payload")
    return DownloadTarget(uuid.UUID(bytes=body[:16]), uuid.UUID(bytes=body[17:]),
                          consent=not body[16] & FLAG_NO_CONSENT)


def image_url(message_id: uuid.UUID, path: str, *, name: str = "", alt: str = "",
              consent: bool = True) -> str:
    """Absolute URL of a tracked image: ``/t/i/<token>/<slug>.<ext>``, the slug from
    ``name``, else the alt text, else the file's own name."""
    token = make_image_token(message_id, path, consent=consent)
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    words = slug(name or alt or stem, fallback="image")
    return absolute_url(reverse("leadpixel:image", args=[token, words, extension(path)]))


def download_url(message_id: uuid.UUID, document_id: uuid.UUID, name: str, ext: str, *,
                 consent: bool = True) -> str:
    """Absolute URL of a tracked document: ``/t/d/<token>/<slug>.<ext>``."""
    token = make_download_token(message_id, document_id, consent=consent)
    ext = _SLUG_DROP.sub("", (ext or "").lower())[:10] or "bin"
    return absolute_url(reverse("leadpixel:download", args=[token, slug(name), ext]))
# --- the visitor value: from a click to the sender's own site -----------------------


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who a visit belongs to: a message (public id) and the click that led there."""

    message_id: uuid.UUID
    click_id: uuid.UUID


def make_visitor(message_id: uuid.UUID, click_id: uuid.UUID) -> str:
    """The signed visitor value (72 base32 letters): no email address, nothing to guess."""
    return _encode(VISITOR_SALT, bytes([VERSION]) + message_id.bytes + click_id.bytes)


def read_visitor(value: str) -> Visitor:
    """The visitor a value names; ``BadToken`` unless we signed exactly it."""
    if not isinstance(value, str) or len(value) > 128:
        raise BadToken("not a visitor value")
    body = _decode(VISITOR_SALT, value)
    if len(body) != 32:
        raise BadToken("bad visitor payload")
    return Visitor(uuid.UUID(bytes=body[:16]), uuid.UUID(bytes=body[16:]))


def visit_host(url: str, hosts) -> bool:
    """Whether ``url`` points at one of ``hosts`` (``VISIT_HOSTS``): an exact host name,
    or ``".example.com"`` for example.com and any of its subdomains. Case-insensitive;
    a port or user information in the URL does not change the host."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if not host:
        return False
    for pattern in hosts or ():
        pattern = str(pattern).strip().rstrip(".").lower()
        if not pattern:
            continue
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def tag_destination(url: str, param: str, value: str) -> str:
    """``url`` with ``param=value`` in its query (an earlier ``param`` replaced); the
    rest of the address, fragment included, as it was."""
    parts = urlsplit(url)
    kept = [pair for pair in parts.query.split("&")
            if pair and pair.split("=", 1)[0] != param] if parts.query else []
    query = "&".join([*kept, f"{param}={value}"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def untag(url_path: str, query: str, param: str) -> str:
    """A request's path and query string without ``param`` (for the stripping redirect)."""
    kept = [pair for pair in query.split("&") if pair and pair.split("=", 1)[0] != param]
    return url_path + ("?" + "&".join(kept) if kept else "")
