"""Where a tracked image's bytes come from, and what headers they get.

A path is served only when (1) its token verifies, (2) it passes
``tokens.check_image_path`` (relative, no ``..``, an image extension), and
(3) the file it resolves to, symlinks followed, lies inside one of the roots.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any

import django
from django.conf import settings
from django.contrib.staticfiles import finders
from django.utils.http import http_date

from .. import tokens
from ..conf import app_settings
from ..exceptions import BadToken

__all__ = ["ImageFile", "find_image", "image_roots", "dimensions"]


@dataclass(frozen=True, slots=True)
class ImageFile:
    path: str  # the real absolute path, inside a root
    content_type: str
    size: int
    mtime: float
    etag: str  # strong: a hash of the bytes

    @property
    def last_modified(self) -> str:
        return http_date(self.mtime)


def image_roots() -> list[str]:
    """The directories images may come from (real paths, symlinks resolved).

    ``LEADPIXEL["IMAGE_ROOTS"]`` when set (directories, or storages with a
    local ``location``); otherwise every location the staticfiles finders
    search, and ``STATIC_ROOT``.
    """
    configured = app_settings.IMAGE_ROOTS
    roots: list[str] = []
    if configured is not None:
        for root in configured:
            roots.append(getattr(root, "location", root))
    else:
        if "django.contrib.staticfiles" in settings.INSTALLED_APPS:
            for finder in finders.get_finders():
                for storage in getattr(finder, "storages", {}).values():
                    location = getattr(storage, "location", None)
                    if location:
                        roots.append(location)
        if getattr(settings, "STATIC_ROOT", None):
            roots.append(str(settings.STATIC_ROOT))
    return [os.path.realpath(str(root)) for root in roots]


# Every match, not the first: ``find_all`` since Django 5.2, ``all`` before it.
FIND_ALL: dict[str, Any] = {"find_all" if django.VERSION >= (5, 2) else "all": True}


def _candidates(path: str) -> list[str]:
    """Files ``path`` may name, before the containment check."""
    if app_settings.IMAGE_ROOTS is None and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
        found = finders.find(path, **FIND_ALL) or []
        extra = [os.path.join(str(settings.STATIC_ROOT), path)] if getattr(
            settings, "STATIC_ROOT", None) else []
        return [*found, *extra]
    return [os.path.join(root, path) for root in image_roots()]


def inside(real: str, roots: list[str]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def find_image(path: str) -> ImageFile | None:
    """The image ``path`` names inside the roots, or None (refused, or not there)."""
    try:
        path = tokens.check_image_path(path)
    except BadToken:
        return None
    roots = image_roots()
    for candidate in _candidates(path):
        real = os.path.realpath(candidate)
        if not inside(real, roots) or tokens.image_type(real) is None:
            continue  # a symlink out of the roots, or to something that is not an image
        try:
            stat = os.stat(real)
        except OSError:
            continue
        if not os.path.isfile(real):
            continue
        return ImageFile(real, tokens.image_type(path) or "application/octet-stream", stat.st_size,
                         stat.st_mtime, _etag(real, stat.st_size, stat.st_mtime_ns))
    return None


@functools.lru_cache(maxsize=256)
def _etag(real: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime: the bytes are hashed once per version of the file.
    digest = hashlib.sha256()
    with open(real, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return f'"{digest.hexdigest()[:32]}"'


def dimensions(real: str) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG from its header; None when unknown."""
    try:
        with open(real, "rb") as handle:
            head = handle.read(32)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                width, height = struct.unpack(">II", head[16:24])
                return width, height
            if head[:6] in (b"GIF87a", b"GIF89a"):
                width, height = struct.unpack("<HH", head[6:10])
                return width, height
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(handle)
    except (OSError, struct.error):
        return None
    return None


def _jpeg_size(handle) -> tuple[int, int] | None:
    handle.seek(2)
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length = struct.unpack(">H", handle.read(2))[0]
        if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">xHH", handle.read(5))
            return width, height
        handle.seek(length - 2, os.SEEK_CUR)


def find_dimensions(path: str) -> tuple[int, int] | None:
    image = find_image(path)
    return dimensions(image.path) if image else None
