"""Timing helpers shared by the benchmarks.

``time_page`` times one page through Django's test client (admin_pages.py,
api.py); ``round_ratios`` and ``median_spread`` summarise scenarios run in
alternating rounds (pixel.py). The last two are pure, and tested in
tests/test_benchmark_stats.py.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence


def time_page(client, url: str, rounds: int) -> tuple[list[float], int]:
    """Two warm-up requests, then ``rounds`` timed ones: (milliseconds each, SQL statements of one)."""
    from django.db import connection

    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    queries: list[str] = []

    def count(run, sql, *args):
        queries.append(sql)
        return run(sql, *args)

    # An execute wrapper counts every query, whatever resets the debug log.
    with connection.execute_wrapper(count):
        client.get(url)
    return times, len(queries)


def round_ratios(rounds: Sequence[Mapping[str, float]], numerator: str,
                 denominator: str) -> list[float]:
    """``numerator / denominator`` within each round that measured both (and a non-zero
    denominator): a load that lands on one round moves that round's pair together."""
    return [r[numerator] / r[denominator] for r in rounds
            if numerator in r and r.get(denominator)]


def median_spread(values: Sequence[float]) -> dict[str, float]:
    """Median of ``values`` with their spread: min, max and the interquartile range
    (``q1``, ``q3``; quartiles by the inclusive method, so 5 values give the 2nd and 4th)."""
    if not values:
        raise ValueError("median_spread() needs at least one value")
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = q3 = ordered[0]
    else:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return {"n": len(ordered), "median": statistics.median(ordered), "min": ordered[0],
            "max": ordered[-1], "q1": q1, "q3": q3}
