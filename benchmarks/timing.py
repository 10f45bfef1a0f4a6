"""Timing one page through Django's test client, shared by admin_pages.py and api.py."""

from __future__ import annotations

import time


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
