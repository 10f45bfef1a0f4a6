"""Tracked images and tracked documents: finding what to serve, and serving it.

``images``: an image path signed into a token, looked up in the image roots
(``LEADPIXEL["IMAGE_ROOTS"]``, else the staticfiles finders and ``STATIC_ROOT``)
and never outside them. ``files``: a ``Document`` streamed with ``Range`` and
``HEAD``, or redirected to its storage's own URL. Recording the hit is
``ingest``'s; the views wire the two together.
"""
