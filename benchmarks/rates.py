"""What the honest-rates figures (``reports.rates``) cost a report, on a seeded PostgreSQL database.

Run from the repository root, by hand (the test suite does not run it):

    PGDATABASE=lp_bench python benchmarks/seed.py          # once: 100,000 messages, ~1M events
    PGDATABASE=lp_bench python benchmarks/rates.py [--rounds 7]

Scenarios, each run once per round in an order that rotates from round to round:

- ``partial``: ``figures.partial`` of the selection, the whole of a cell's (or a
  live report's) figures, the rates' flag counts included;
- ``flags``: ``rates.flag_counts`` alone (its share of ``partial``);
- ``recipients``: ``rates.recipient_hidden``, the live query every report adds;
- ``report``: ``campaign_report`` as the admin and ``stats/`` call it (live here,
  unless a rollup was built).

for one campaign and for every message. Printed: median and spread (min, max,
quartiles) in milliseconds, and the ratio flags/partial within each round. Also
the pure interval at a million-message scale (the hypergeometric search).
"""

from __future__ import annotations

import argparse
import time

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)
from timing import median_spread, round_ratios  # noqa: E402

use_example_project("lp_bench")

import django  # noqa: E402

django.setup()

from django_leadpixel import reports  # noqa: E402
from django_leadpixel.models import Message  # noqa: E402
from django_leadpixel.reports import figures, rates  # noqa: E402


def scenarios(campaign: str | None) -> dict:
    messages = figures.select_messages(campaign=campaign)
    filtered = campaign is not None
    day = figures.local_day("sent_at")
    return {
        "partial": lambda: figures.partial(messages, filtered=filtered, top_links=figures.TOP_LINKS),
        "flags": lambda: rates.flag_counts(messages, day),
        "recipients": lambda: rates.recipient_hidden(messages, day),
        "report": lambda: reports.campaign_report(campaign=campaign),
    }


def run(label: str, campaign: str | None, rounds: int) -> None:
    jobs = scenarios(campaign)
    names = list(jobs)
    for fn in jobs.values():  # warm the caches once
        fn()
    results: list[dict[str, float]] = []
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        row = {}
        for name in order:
            started = time.perf_counter()
            jobs[name]()
            row[name] = (time.perf_counter() - started) * 1000
        results.append(row)
    print(f"\n{label}")
    for name in names:
        s = median_spread([row[name] for row in results])
        print(f"  {name:10} median {s['median']:8.1f} ms  min {s['min']:8.1f}  max {s['max']:8.1f}"
              f"  q1 {s['q1']:8.1f}  q3 {s['q3']:8.1f}")
    share = median_spread(round_ratios(results, "flags", "partial"))
    print(f"  flags/partial per round: median {share['median']:.2f} "
          f"(min {share['min']:.2f}, max {share['max']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    campaign = (Message.objects.order_by("campaign").values_list("campaign", flat=True)
                .first())
    print(f"{Message.objects.count()} messages; one campaign: {campaign!r}")
    run(f"one campaign ({campaign})", campaign, args.rounds)
    run("every message", None, args.rounds)
    started = time.perf_counter()
    for _ in range(20):
        rates.hidden_readers(hidden_clicks=30_000, visible_readers=400_000, visible_clicks=60_000,
                             cohort=250_000)
    print(f"\ninterval for a million-message campaign: "
          f"{(time.perf_counter() - started) / 20 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
