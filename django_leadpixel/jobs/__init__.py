"""Batch jobs over stored events: enrich, settle, reclassify, purge, erase.

Plain functions over the ORM; ``tasks.py`` and the management commands are
thin wrappers around them. Every job is idempotent: running it twice changes
nothing more.
"""

from ..enrichment import DEVICE_FIELDS, ENRICHED_FIELDS, PLACE_FIELDS, READ_FIELDS
from .enrich import (
    enrich_batches,
    enrich_many,
    enrich_one,
    fields_of,
    read_fields,
    settle_clicks,
    sweep,
    write,
)
from .paging import EVENT_MODELS, iter_chunks, locked_batch
from .reclassify import reclassify
from .retention import erase_recipient, purge, recipient_messages

__all__ = [
    "DEVICE_FIELDS", "ENRICHED_FIELDS", "EVENT_MODELS", "PLACE_FIELDS",
    "READ_FIELDS", "enrich_batches", "enrich_many", "enrich_one", "erase_recipient", "fields_of",
    "iter_chunks", "locked_batch", "purge", "read_fields", "recipient_messages", "reclassify",
    "settle_clicks", "sweep", "write",
]
