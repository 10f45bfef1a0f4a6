"""The labelled classification corpus: read by tests/test_classify.py and
benchmarks/classify_report.py alike, so both judge the same thing."""

from __future__ import annotations

import csv
from pathlib import Path

from django_leadpixel.classify import Verdict, classify

CORPUS = Path(__file__).parent / "classify_corpus.csv"


def load_corpus() -> list[dict[str, str]]:
    with CORPUS.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_row(row: dict[str, str]) -> Verdict:
    secs = row["seconds_since_sent"]
    return classify(
        ip=row["ip"] or None,
        user_agent=row["user_agent"],
        kind=row["kind"],
        method=row["method"] or "GET",
        seconds_since_sent=float(secs) if secs else None,
        burst=int(row["burst"] or 0),
        honeypot=row["honeypot"] == "1",
    )
