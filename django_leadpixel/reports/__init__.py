"""Reports: figures, the rollup that keeps them per campaign and day, the campaign
report, a message's timeline, CSV exports and server-drawn charts.

``figures`` computes the partial of a selection of messages; ``rollup``
keeps partials per (campaign, sending day) and says which are current;
``campaign`` combines them into the report the admin and the API show.
"""

from . import charts, export, figures, rates, rollup
from .campaign import campaign_report
from .documents import document_report, opens_by_image
from .export import EVENT_COLUMNS, csv_response, event_rows, figures_rows, neutralise
from .figures import (
    FIGURES,
    SOURCE_KEYS,
    day_start,
    finalize,
    live_partial,
    merge,
    partial,
    select_messages,
)
from .timeline import TIMELINE_FIELDS, TIMELINE_LIMIT, timeline

__all__ = [
    "EVENT_COLUMNS", "FIGURES", "SOURCE_KEYS", "TIMELINE_FIELDS", "TIMELINE_LIMIT",
    "campaign_report", "charts", "csv_response", "day_start", "document_report", "event_rows",
    "export", "figures", "opens_by_image",
    "figures_rows", "finalize", "live_partial", "merge", "neutralise", "partial", "rates", "rollup",
    "select_messages", "timeline",
]
