"""A hit: what one tracking request saw, and its one-line JSON form.

The line is what the spool (database down) and the ingest buffer (Redis) hold
until ``ingest.bulk.store_many`` stores it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import addresses
from ..classify import Verdict
from ..conf import app_settings
from ..exceptions import SpoolLineError
from ..models import KINDS
from ..sources import VALUES as SOURCE_VALUES
from ..tokens import check_destination

__all__ = ["Hit", "SpoolLineError", "clean_text", "dumps", "from_line", "message_of", "to_line"]


@dataclass
class Hit:
    """What one tracking request saw, before it is stored."""

    kind: str  # a kind of ``models.KINDS``: "open", "click", "download" or "visit"
    message_id: uuid.UUID  # the message's public id
    ip: str | None = None  # full address, used in memory for classification only
    user_agent: str = ""
    method: str = "GET"
    purpose: str = ""
    url: str = ""
    position: int = 0
    honeypot: bool = False
    image: str = ""  # an open by a tracked image: its path; blank for the pixel
    document_id: uuid.UUID | None = None  # a download: the document's public id
    # A visit's page (path and query), the host it came from and the click that led there.
    path: str = ""
    referrer_host: str = ""
    click_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)
    # False when the token says the message was sent without tracking consent.
    consent: bool = True

    def __post_init__(self) -> None:
        self.user_agent = clean_text(self.user_agent)[: app_settings.USER_AGENT_MAX_LENGTH]

    def forget_person(self) -> None:
        """Drop the address and the agent (once classified, without consent): they
        then never reach the spool, the Redis buffer or a log."""
        self.ip, self.user_agent = None, ""


def clean_text(value: str | None) -> str:
    """Text a database can store: PostgreSQL refuses NUL, and a lone surrogate
    cannot be encoded as UTF-8 at all; both would lose the event."""
    value = (value or "").replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8")


def to_line(hit: Hit, verdict: Verdict) -> dict[str, Any]:
    """A hit and its verdict as a JSON-able dict (the spool and the ingest buffer).

    The address is written as storage would keep it (``ANONYMIZE_IP``).
    """
    line = {
        "v": 1,
        "kind": hit.kind,
        "id": str(hit.id),
        "message": str(hit.message_id),
        "occurred_at": hit.occurred_at.isoformat(),
        "ip": addresses.anonymize(hit.ip) if app_settings.ANONYMIZE_IP else hit.ip,
        "user_agent": hit.user_agent,
        "method": hit.method,
        "source": verdict.source,
        "reason": verdict.reason,
        "operator": verdict.operator,
    }
    if hit.kind == "click":
        line.update(url=hit.url, position=hit.position, honeypot=hit.honeypot)
    elif hit.kind == "open" and hit.image:
        line["image"] = hit.image
    elif hit.kind == "download":
        line["document"] = str(hit.document_id) if hit.document_id else None
    elif hit.kind == "visit":
        line.update(path=hit.path, referrer_host=hit.referrer_host,
                    click_id=str(hit.click_id) if hit.click_id else None)
    return line


def dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=True, separators=(",", ":"))


def from_line(text: str | bytes) -> tuple[Hit, Verdict]:
    """Parse a line written by ``to_line``; ``SpoolLineError`` when it is not one."""
    try:
        data = json.loads(text)
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if data["source"] not in SOURCE_VALUES:
            raise ValueError(f"unknown source {data['source']!r}")
        occurred_at = parse_datetime(data["occurred_at"])
        if occurred_at is None:
            raise ValueError("bad occurred_at")
        hit = Hit(
            kind=kind,
            message_id=uuid.UUID(data["message"]),
            id=uuid.UUID(data["id"]),
            occurred_at=occurred_at,
            ip=addresses.clean(data.get("ip")),
            user_agent=str(data.get("user_agent", "")),
            method=str(data.get("method", "GET")),
            url=str(data.get("url", "")),
            position=int(data.get("position", 0)),
            honeypot=bool(data.get("honeypot", False)),
            image=str(data.get("image") or ""),
            document_id=uuid.UUID(data["document"]) if data.get("document") else None,
            path=str(data.get("path", "")),
            referrer_host=str(data.get("referrer_host", "")),
            click_id=uuid.UUID(data["click_id"]) if data.get("click_id") else None,
        )
        if kind == "click":
            check_destination(hit.url)
        verdict = Verdict(source=data["source"], reason=str(data.get("reason", "")),
                          operator=str(data.get("operator", "")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SpoolLineError(str(exc)) from exc
    return hit, verdict


def message_of(line: str | bytes) -> str | None:
    """The message's public id named by a line (text), without parsing the rest; None
    when the line is not JSON or names none."""
    try:
        value = json.loads(line).get("message")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
