"""Time the lead list and the lead page on a seeded PostgreSQL database.

Run from the repository root, by hand (the test suite does not run it), after
``benchmarks/seed.py --people N`` (so that leads have several messages):

    PGDATABASE=lp_bench python benchmarks/leads.py [--rounds 7] [--per-round 3]

Each page is fetched through Django's test client as a logged-in superuser
(full middleware, template rendering and every query; no network or browser).
After one warm-up of each, the pages are fetched in alternating rounds (every
page once per round, ``--per-round`` times in a row), so a load that lands on
one round touches every page alike; the median and the spread (min, quartiles,
max) of each page's times are reported with its number of queries. First the
lead list's materialized view is refreshed (``reports.leads.refresh``, what the
``leadpixel-leads`` beat task runs), ``--refreshes`` times, and that is timed too.
"""

from __future__ import annotations

import argparse
import json
import time

from benchenv import use_example_project  # noqa: E402  (benchmarks/benchenv.py)

use_example_project("lp_bench")

from timing import median_spread  # noqa: E402  (benchmarks/timing.py)

TARGET_MS = 500


def pages() -> list[tuple[str, str]]:
    from django.contrib.admin.utils import quote
    from django.urls import reverse

    from django_leadpixel.models import Lead

    # The most engaged lead (the page a sender opens first) and a quiet one.
    top = Lead.objects.order_by("-score", "email").values_list("email", flat=True).first()
    quiet = Lead.objects.order_by("score", "email").values_list("email", flat=True).first()
    changelist = reverse("admin:django_leadpixel_lead_changelist")
    return [
        ("lead list (by score)", changelist),
        ("lead list, by last sent", changelist + "?o=-7"),
        ("lead list, engaged", changelist + "?engaged=yes"),
        ("lead list, search", changelist + "?q=user42"),
        ("lead page, top lead", reverse("admin:django_leadpixel_lead_change", args=[quote(top)])),
        ("lead page, quiet lead", reverse("admin:django_leadpixel_lead_change", args=[quote(quiet)])),
        ("API leads/", "/api/leadpixel/leads/"),
        ("API leads/, engaged, a campaign", "/api/leadpixel/leads/?engaged=true&campaign=campaign-03"),
        ("API leads/{email}/", f"/api/leadpixel/leads/{top}/"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print raw JSON only")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from django_leadpixel.models import KINDS, Lead, Message
    from django_leadpixel.reports import leads

    refresh_ms = []
    for _ in range(args.refreshes):
        started = time.perf_counter()
        assert leads.refresh(), "no lead view: run migrate"
        refresh_ms.append((time.perf_counter() - started) * 1000)

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    todo = pages()
    queries: dict[str, int] = {}
    seen: list[str] = []

    def count(run, sql, *params):
        seen.append(sql)
        return run(sql, *params)

    for name, url in todo:  # warm up, and count each page's statements once
        seen.clear()
        with connection.execute_wrapper(count):
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        queries[name] = len(seen)
    times: dict[str, list[float]] = {name: [] for name, _ in todo}
    for _ in range(args.rounds):
        for name, url in todo:
            for _ in range(args.per_round):
                started = time.perf_counter()
                client.get(url)
                times[name].append((time.perf_counter() - started) * 1000)
    counts = {f"{kind}s": model.objects.count() for kind, model in KINDS.items()}
    result = {"database": connection.settings_dict["NAME"], "messages": Message.objects.count(),
              "leads": Lead.objects.count(), **counts, "refresh": median_spread(refresh_ms),
              "pages": {name: {**median_spread(values), "queries": queries[name]}
                        for name, values in times.items()}}
    if args.json:
        print(json.dumps(result))
        return
    events = sum(counts.values())
    print(f"database {result['database']}: {result['messages']} messages to {result['leads']} "
          f"leads, {events} events ({', '.join(f'{n} {k}' for k, n in counts.items())}); "
          f"{args.rounds} rounds x {args.per_round}, target {TARGET_MS} ms")
    refresh = result["refresh"]
    print(f"refresh of the lead view: median {refresh['median']:.0f} ms "
          f"(min {refresh['min']:.0f}, max {refresh['max']:.0f}, n {refresh['n']})")
    print(f"{'page':34} {'median':>8} {'q1':>8} {'q3':>8} {'min':>8} {'max':>8} {'queries':>8}")
    for name, row in result["pages"].items():
        line = (f"{name:34} {row['median']:>8.1f} {row['q1']:>8.1f} {row['q3']:>8.1f} "
                f"{row['min']:>8.1f} {row['max']:>8.1f} {row['queries']:>8}")
        if row["median"] > TARGET_MS:
            line += "  OVER TARGET"
        print(line)


if __name__ == "__main__":
    main()
