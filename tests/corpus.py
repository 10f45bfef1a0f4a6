"""The labelled classification corpus: read by tests/test_classify.py and
benchmarks/classify_report.py alike, so both judge the same thing."""

from __future__ import annotations

import csv
from pathlib import Path

from django_leadpixel.classify import Verdict
from django_leadpixel.history import judge

CORPUS = Path(__file__).parent / "classify_corpus.csv"


def load_corpus() -> list[dict[str, str]]:
    with CORPUS.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _flag(text: str | None) -> bool | None:
    return {"1": True, "0": False}.get((text or "").strip())


def run_row(row: dict[str, str]) -> Verdict:
    """A row's verdict from its request and the history facts it records."""
    secs = row["seconds_since_sent"]
    return judge(
        ip=row["ip"] or None,
        user_agent=row["user_agent"],
        kind=row["kind"],
        method=row["method"] or "GET",
        seconds_since_sent=float(secs) if secs else None,
        burst=int(row["burst"] or 0),
        honeypot=row["honeypot"] == "1",
        asn=int(row["asn"]) if row.get("asn") else None,
        person_opened_before=_flag(row.get("person_opened_before")),
        opened_from_network=_flag(row.get("opened_from_network")),
    )
