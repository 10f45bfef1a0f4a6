"""Ingestion: a hit from a request, classified and stored.

``record`` (the request path), the backends it chooses from (``direct``,
``buffer``'s Redis list), ``bulk.store_many`` (the drain and the spool
replay) and the ``spool``. Stored events are announced with
``signals.events_stored``; ingestion never imports the tasks that enrich them.
"""
