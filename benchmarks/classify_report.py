"""Classifier report: confusion matrix and precision/recall over the labelled corpus, and
classifications per second on the UA+IP path (single process).

    python benchmarks/classify_report.py
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The corpus's history facts are judged by django_leadpixel.history, which needs the app.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from django_leadpixel.classify import browser_shaped, classify, clear_caches  # noqa: E402
from django_leadpixel.ranges import default_table  # noqa: E402
from django_leadpixel.sources import SOURCES  # noqa: E402
from tests.corpus import CORPUS, load_corpus, run_row  # noqa: E402


def report(rows: list[dict[str, str]]) -> None:
    values = [v for v, _ in SOURCES]
    pairs = [(row["expected"], run_row(row).source) for row in rows]
    matrix = Counter(pairs)
    width = max(len(v) for v in values) + 1
    print(f"Corpus: {len(rows)} rows ({CORPUS.relative_to(ROOT)})\n")
    print("Confusion matrix (rows: expected, columns: predicted)")
    print(" " * width + "".join(f"{v[:8]:>9}" for v in values))
    for e in values:
        print(f"{e:<{width}}" + "".join(f"{matrix[(e, p)]:>9}" for p in values))
    print(f"\n{'class':<{width}}{'rows':>6}{'precision':>11}{'recall':>8}")
    for v in values:
        tp = matrix[(v, v)]
        n_true = sum(matrix[(v, p)] for p in values)
        n_pred = sum(matrix[(e, v)] for e in values)
        precision = tp / n_pred if n_pred else float("nan")
        recall = tp / n_true if n_true else float("nan")
        print(f"{v:<{width}}{n_true:>6}{precision:>11.3f}{recall:>8.3f}")
    wrong = [(e, p) for e, p in pairs if e != p]
    print(f"\nMisclassified: {len(wrong)}")


def throughput(rows: list[dict[str, str]]) -> None:
    default_table()  # built once, outside the timing
    inputs = [
        (row["ip"] or None, row["user_agent"], row["kind"])
        for row in rows
        if row["method"] == "GET"
    ]
    # Warm cache: the corpus user agents over and over (real traffic repeats user agents).
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 2.0:
        for ip, ua, kind in inputs:
            classify(ip=ip, user_agent=ua, kind=kind)
        n += len(inputs)
    warm = n / (time.perf_counter() - started)

    # Distinct user agents: every call sees a user agent it has never seen before, made
    # by appending a counter to real ones (so the user_agents cache never hits).
    clear_caches()
    count = 20_000
    distinct = [
        (ip, f"{ua} {i}" if ua else ua, kind)
        for i, (ip, ua, kind) in zip(
            range(count), inputs * (count // len(inputs) + 1), strict=False
        )
    ]
    started = time.perf_counter()
    for ip, ua, kind in distinct:
        classify(ip=ip, user_agent=ua, kind=kind)
    cold = len(distinct) / (time.perf_counter() - started)
    # Distinct, browser-shaped only (most real traffic): the regex fast path, no UA parse.
    clear_caches()
    browsers = [(ip, ua, kind) for ip, ua, kind in inputs if browser_shaped(ua)]
    distinct_b = [
        (ip, f"{ua} {i}", kind)
        for i, (ip, ua, kind) in zip(
            range(count), browsers * (count // len(browsers) + 1), strict=False
        )
    ]
    started = time.perf_counter()
    for ip, ua, kind in distinct_b:
        classify(ip=ip, user_agent=ua, kind=kind)
    cold_b = len(distinct_b) / (time.perf_counter() - started)
    print("\nThroughput, UA+IP path, one process:")
    print(f"  warm cache (corpus UAs repeated): {warm:>10,.0f} classifications/s")
    print(f"  distinct user agents (all kinds): {cold:>10,.0f} classifications/s")
    print(f"  distinct browser user agents:     {cold_b:>10,.0f} classifications/s")


if __name__ == "__main__":
    rows = load_corpus()
    report(rows)
    throughput(rows)
