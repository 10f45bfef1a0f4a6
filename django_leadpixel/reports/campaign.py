"""The campaign report: the rollup's current cells and live figures, finalized."""

from __future__ import annotations

import datetime

from .figures import finalize
from .rollup import report_partial


def campaign_report(*, campaign: str | None = None, start: datetime.date | None = None,
                    end: datetime.date | None = None) -> dict:
    """The figures of one campaign (or all) over a range of sending days.

    Messages are selected by the day they were sent (inclusive bounds, either
    may be None) and by exact campaign; the events counted are those of the
    selected messages, whenever they happened. JSON-serialisable. The figures
    come from the rollup where it is current and from the events where it is
    not (``rollup.report_partial``): they are exact either way.
    """
    part, _how = report_partial(campaign=campaign, start=start, end=end)
    return finalize(part, campaign=campaign, start=start, end=end)
