"""Public signals for integrators.

``open_recorded``: sent after an open is stored. Keyword arguments:
    ``event``   the saved ``Open`` (its ``message`` is loaded),
    ``request`` the ``HttpRequest``, or None when replayed from the spool.

``click_recorded``: sent after a click is stored. Keyword arguments:
    ``event``   the saved ``Click``,
    ``request`` the ``HttpRequest``, or None when replayed from the spool.

``download_recorded``: sent after a download of a tracked document is stored. Keyword
arguments: ``event`` the saved ``Download``, ``request`` as above.

``visit_recorded``: sent after a visit on the sender's site is stored. Keyword arguments:
    ``event``   the saved ``Visit`` (``path``, ``referrer_host``, ``click_id``),
    ``request`` the ``HttpRequest`` (the page's or the beacon's), or None when replayed.

``sender`` is the model class. Receivers run inside the request: keep them
fast, and hand slow work to Celery. A receiver that raises is logged (logger
``django_leadpixel``) and never breaks the pixel or the redirect.
"""

from django.dispatch import Signal

open_recorded = Signal()
click_recorded = Signal()
download_recorded = Signal()
visit_recorded = Signal()

# Internal: sent by ``ingest`` after hits are stored (``kind`` "open" or "click",
# ``ids`` the event ids), so that the layer above can enrich them without ingest
# importing it. ``apps.ready()`` connects ``tasks.enrich_stored``.
events_stored = Signal()
