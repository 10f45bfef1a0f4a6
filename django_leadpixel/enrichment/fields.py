"""The enrichment fields of one event: its place and device, or a mask.

Pure given the GeoIP and user-agent caches; ``ingest`` and ``jobs`` write
what it returns. A proxy's or machine's address and agent describe the
machine, not the reader: those events get no place and no device, only
``masked`` (the operator was stored with the verdict). Reporting Mountain
View for every Gmail open is the bug this app exists to avoid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ..sources import MASKED
from .devices import FIELDS as DEVICE_FIELDS
from .devices import parse_user_agent
from .geo import GeoStatus, locate

PLACE_FIELDS = ("country", "region", "city", "latitude", "longitude", "accuracy_radius",
                "asn", "as_org")
ENRICHED_FIELDS = ("enriched_at", "masked", "geo_status", *PLACE_FIELDS, *DEVICE_FIELDS)
# What ``enrichment_for`` reads of an event: the sweep loads nothing else.
READ_FIELDS = ("id", "message_id", "source", "anonymous", "ip", "user_agent")


def enrichment_for(event: Any, now: datetime | None = None) -> dict[str, Any]:
    """The enrichment fields of one event (anything with ``READ_FIELDS``).

    Text values are as the databases gave them: the store cuts them to its
    columns (``models.fit``).
    """
    fields: dict[str, Any] = {name: "" for name in ENRICHED_FIELDS}
    fields.update(latitude=None, longitude=None, accuracy_radius=None, asn=None,
                  masked=False, enriched_at=now or timezone.now())
    if event.source in MASKED:
        fields.update(masked=True, geo_status=GeoStatus.MASKED)
        return fields
    if event.anonymous or not event.ip:
        fields["geo_status"] = GeoStatus.SKIPPED
    else:
        place, status = locate(event.ip)
        fields["geo_status"] = status
        fields.update({name: getattr(place, name) for name in PLACE_FIELDS})
    if event.user_agent:
        device = parse_user_agent(event.user_agent)
        fields.update({name: getattr(device, name) or "" for name in DEVICE_FIELDS})
    for name in ("region", "city", "as_org"):
        fields[name] = fields[name] or ""
    return fields
