"""Micro-benchmark of the pure enrichment functions (no ORM, no Celery).

Run from the repository root, by hand (the test suite does not run it):

    python benchmarks/enrich_pure.py [--rounds 20] [--warm-events 200000]

One "event" is what an enrichment task does per open or click:
``parse_user_agent(ua)`` plus ``locate(ip)``. Reported, single process:

- cold: every cache emptied before each round (our two LRU caches and the
  small cache inside ua-parser), and every input in a round distinct, so each
  call really parses / really reads the database;
- warm: the same inputs again and again, as real traffic (the same few
  hundred user agents, the same office networks) mostly is.

The GeoIP databases are the tiny test fixtures in tests/fixtures/geoip/. A real
GeoLite2-City file is ~60 MB; lookups in it walk a deeper tree (a few more
node reads, same order of magnitude) and decode larger records (more names).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from django.conf import settings  # noqa: E402

GEOIP = ROOT / "tests" / "fixtures" / "geoip"
settings.configure(
    SECRET_KEY="benchmark",
    LEADPIXEL={
        "GEOIP_PATH": str(GEOIP),
        "GEOIP_CITY": "Test-City.mmdb",
        "GEOIP_ASN": "Test-ASN.mmdb",
    },
)

import maxminddb  # noqa: E402
from ua_mix import USER_AGENTS, make_ips  # noqa: E402
from ua_parser import user_agent_parser  # noqa: E402

from django_leadpixel import enrichment  # noqa: E402


def clear_caches() -> None:
    enrichment.locate.cache_clear()
    enrichment.parse_user_agent.cache_clear()
    user_agent_parser._PARSE_CACHE.clear()  # ua-parser's own 200-entry cache


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("inf")


def cold(work, rounds: int) -> float:
    """Median events/s over rounds, caches emptied before each round."""
    rates = []
    for _ in range(rounds):
        clear_caches()
        start = time.perf_counter()
        count = work()
        rates.append(rate(count, time.perf_counter() - start))
    return statistics.median(rates)


def warm(work, events: int) -> float:
    work()  # fill the caches
    start = time.perf_counter()
    done = 0
    while done < events:
        done += work()
    return rate(done, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="cold rounds (median reported)")
    parser.add_argument("--warm-events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    uas = list(USER_AGENTS)
    ips = make_ips(len(uas) * 20, rng)
    events = list(zip(uas * 20, ips, strict=True))
    rng.shuffle(events)

    locator = enrichment.get_locator()
    if locator is None:
        sys.exit(f"no locator: {enrichment.locator_problem()}")
    reader_class = type(locator._city._db_reader)  # report only
    pure = enrichment.GeoLocator(locator.city_path, locator.asn_path, mode=maxminddb.MODE_MMAP)

    def ua_only() -> int:
        for ua in uas:
            enrichment.parse_user_agent(ua)
        return len(uas)

    def ip_only() -> int:
        for ip in ips:
            enrichment.locate(ip)
        return len(ips)

    def ip_uncached() -> int:
        for ip in ips:
            locator.locate(ip)
        return len(ips)

    def ip_pure_python() -> int:
        for ip in ips:
            pure.locate(ip)
        return len(ips)

    cold_events = list(zip(uas, ips, strict=False))  # each UA once, each IP once

    def both_cold() -> int:
        for ua, ip in cold_events:
            enrichment.parse_user_agent(ua)
            enrichment.locate(ip)
        return len(cold_events)

    def both_warm() -> int:
        for ua, ip in events:
            enrichment.parse_user_agent(ua)
            enrichment.locate(ip)
        return len(events)

    print(
        f"python {sys.version.split()[0]}, maxminddb reader: {reader_class.__module__}."
        f"{reader_class.__name__} (mode {maxminddb.MODE_AUTO} = auto)"
    )
    print(
        f"{len(uas)} distinct user agents, {len(ips)} distinct addresses, "
        f"{args.rounds} cold rounds (median), {args.warm_events:,} warm events"
    )
    print()
    rows = [
        ("parse_user_agent", cold(ua_only, args.rounds), warm(ua_only, args.warm_events)),
        ("locate", cold(ip_only, args.rounds), warm(ip_only, args.warm_events)),
        ("GeoLocator.locate (no cache)", cold(ip_uncached, args.rounds), None),
        ("  same, pure-Python MODE_MMAP", cold(ip_pure_python, args.rounds), None),
        ("event = both", cold(both_cold, args.rounds), warm(both_warm, args.warm_events)),
    ]
    print(f"{'':30} {'cold events/s':>15} {'warm events/s':>15}")
    for name, cold_rate, warm_rate in rows:
        warm_text = f"{warm_rate:15,.0f}" if warm_rate is not None else f"{'-':>15}"
        print(f"{name:30} {cold_rate:15,.0f} {warm_text}")


if __name__ == "__main__":
    main()
