"""The package's exceptions, in one hierarchy (as django-anymail does).

Catch ``LeadpixelError`` for anything this package raises on purpose. Each
class also derives from the built-in a caller would expect (``ValueError``
for bad input), so code written against the built-in keeps working.
"""

from __future__ import annotations


class LeadpixelError(Exception):
    """Base class of every exception django-leadpixel raises on purpose."""


class BadToken(LeadpixelError):
    """The token is malformed, tampered with, or signed for another purpose."""


class UnsafeDestination(LeadpixelError, ValueError):
    """Only absolute http(s) URLs may be signed as click destinations."""


class DestinationTooLong(UnsafeDestination):
    """The destination is too long to fit in a click token a tracking URL can carry."""


class SpoolLineError(LeadpixelError, ValueError):
    """A spooled or buffered line that is not a hit written by ``ingest.hits.to_line``."""


class GeoDatabaseError(LeadpixelError):
    """A GeoIP database that cannot be used; ``status`` is a ``GeoStatus`` value."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
