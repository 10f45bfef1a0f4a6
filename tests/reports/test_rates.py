"""Honest rates (``reports.rates``): cohorts, the estimate of the people who opened, images blocked.

The last test plays 50 small campaigns with known truth (``tests/rates_campaign.py``)
through the real views on a moved clock; the 90% interval must hold the true
count in at least 85% of them, and the images-blocked count must be exact.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.db.models import Count, Q
from django.test import override_settings
from django.urls import reverse

from django_leadpixel import jobs, reports
from django_leadpixel.enrichment import reset_locator
from django_leadpixel.models import Download, Message, Status, Visit
from django_leadpixel.reports import rates, rollup

from ..admin.helpers import T0, click, message, open_
from ..rates_campaign import EARLIER, LINKS, make_rates_campaign

# --- the rules -------------------------------------------------------------------------------


def test_cohort_rules_in_order():
    assert rates.cohort_of(apple=True, proxy=True, direct=True) == "hidden"
    assert rates.cohort_of(apple=False, proxy=False, direct=True, recipient_apple=True) == "hidden"
    assert rates.cohort_of(apple=False, proxy=True, direct=True) == "proxy"
    assert rates.cohort_of(apple=False, proxy=False, direct=True) == "direct"
    assert rates.cohort_of(apple=False, proxy=False, direct=False) == "none"


def brute_tail(x: int, total: int, marked: int, drawn: int, upper: bool) -> float:
    pmf = [math.comb(marked, k) * math.comb(total - marked, drawn - k) / math.comb(total, drawn)
           for k in range(drawn + 1)]
    return sum(pmf[x:]) if upper else sum(pmf[:x + 1])


@pytest.mark.parametrize(("total", "marked", "drawn"), [
    (10, 4, 5), (60, 20, 15), (200, 150, 40), (300, 12, 290), (31, 30, 1)])
def test_hypergeometric_tails_match_the_sums(total, marked, drawn):
    for x in range(drawn + 1):
        for upper in (False, True):
            got = rates.hypergeometric_tail(x, total=total, marked=marked, drawn=drawn, upper=upper)
            assert got == pytest.approx(brute_tail(x, total, marked, drawn, upper), abs=1e-9)


def test_hypergeometric_tail_is_quick_on_big_counts():
    # A million-message campaign: the sum stops a few spreads from the mode.
    p = rates.hypergeometric_tail(30_000, total=600_000, marked=200_000, drawn=90_000,
                                  upper=False)
    assert 0.5 < p < 1.0
    assert rates.hidden_readers(hidden_clicks=30_000, visible_readers=400_000,
                                visible_clicks=60_000, cohort=250_000)[0] == 200_000


def coverage(p_hidden: float, runs: int = 400) -> tuple[float, float]:
    """Share of runs whose interval holds the truth, and the mean estimate over the truth:
    visible readers click at 30%, hidden ones at ``p_hidden``."""
    rng = random.Random(19)
    held, ratio = 0, 0.0
    for _ in range(runs):
        truth, visible = rng.randint(40, 90), rng.randint(60, 120)
        u = sum(rng.random() < p_hidden for _ in range(truth))
        c = sum(rng.random() < 0.3 for _ in range(visible))
        value, low, high = rates.hidden_readers(hidden_clicks=u, visible_readers=visible,
                                                visible_clicks=c, cohort=150)
        held += low <= truth <= high
        ratio += value / truth / runs
    return held / runs, ratio


def test_interval_holds_the_truth_when_the_assumption_holds():
    held, ratio = coverage(p_hidden=0.3)
    assert held >= 0.88, held
    assert 0.9 < ratio < 1.15, ratio


def test_where_it_is_wrong_apple_readers_clicking_less():
    """Hidden readers who click at half the others' rate: the estimate halves (README)."""
    held, ratio = coverage(p_hidden=0.15)
    assert held < 0.5 and ratio < 0.65, (held, ratio)


def test_estimate_bounds_stay_within_what_is_known():
    value, low, high = rates.hidden_readers(hidden_clicks=6, visible_readers=10,
                                            visible_clicks=9, cohort=8, seen=7)
    assert 7 <= low <= value <= high <= 8
    with pytest.raises(ValueError):
        rates.hidden_readers(hidden_clicks=6, visible_readers=10, visible_clicks=0, cohort=8)


# --- the report ----------------------------------------------------------------------------------


def hidden_campaign(name: str = "spring", *, hidden: int = 20, hidden_clicks: int = 6,
                    visible: int = 20, visible_clicks: int = 8) -> None:
    """Messages of ``name``: Apple ones (some clicked), Gmail ones (some clicked), one
    with images blocked and one with nothing."""
    for i in range(hidden):
        m = message(recipient=f"apple{i}@{name}.example", campaign=name)
        open_(m, "apple_mpp", minutes=1)
        if i < hidden_clicks:
            click(m, minutes=90)
    for i in range(visible):
        m = message(recipient=f"gmail{i}@{name}.example", campaign=name)
        open_(m, "google_proxy" if i % 2 else "human", minutes=60)
        if i < visible_clicks:
            click(m, minutes=62)
    blocked = message(recipient=f"blocked@{name}.example", campaign=name)
    open_(blocked, "scanner", minutes=0.1)  # a gateway's fetch is no reader's
    click(blocked, minutes=30)
    message(recipient=f"nobody@{name}.example", campaign=name)


@pytest.mark.django_db
def test_report_figures():
    hidden_campaign()
    report = reports.campaign_report(campaign="spring")
    rows = {row["cohort"]: row for row in report["cohorts"]}
    assert [row["cohort"] for row in report["cohorts"]] == ["hidden", "proxy", "direct", "none"]
    assert (rows["hidden"]["sent"], rows["hidden"]["seen_opens"],
            rows["hidden"]["person_clicks"]) == (20, 0, 6)
    assert (rows["proxy"]["sent"], rows["proxy"]["person_clicks"]) == (10, 4)
    assert (rows["direct"]["sent"], rows["direct"]["person_clicks"]) == (10, 4)
    assert (rows["none"]["sent"], rows["none"]["person_clicks"]) == (2, 1)
    # 6 hidden clicks at the visible 8 clicks per 20 readers: 15 hidden readers.
    assert rows["hidden"]["estimated_opens"] == 15
    estimate = report["opened_by_people_estimate"]
    seen_outside = 20 + 1  # the visible readers and the blocked reader who clicked
    assert estimate["value"] == seen_outside + 15
    assert seen_outside + 6 <= estimate["low"] < estimate["value"] < estimate["high"] <= 20 + 21
    assert estimate["method"] == rates.METHOD and estimate["level"] == 0.9
    assert report["opened_by_people_estimate_reason"] is None
    assert report["images_blocked"] == {"count": 1, "rate": round(1 / 42, 4),
                                        "of_person_clicks": round(1 / 15, 4)}
    assert report["images_blocked_daily"] == [
        {"date": "2024-03-04", "sent": 42, "count": 1, "rate": round(1 / 42, 4)}]
    hidden_campaign("autumn", hidden_clicks=0, visible_clicks=0)
    assert reports.campaign_report()["images_blocked_by_campaign"] == [
        {"campaign": "autumn", "sent": 42, "count": 1, "rate": round(1 / 42, 4)},
        {"campaign": "spring", "sent": 42, "count": 1, "rate": round(1 / 42, 4)}]


@pytest.mark.django_db
def test_rates_figures_and_the_status_agree_with_downloads_and_visits():
    """A person's download or visit is a person acting on a link, as a click is: every
    figure counts the message as opened by a person, and the rates count it as clicked."""
    def event(model, m, source="human", minutes=30, **fields):
        model.objects.create(message=m, source=source, occurred_at=m.sent_at + timedelta(
            minutes=minutes), enriched_at=m.sent_at, masked=source != "human", **fields)

    opened = message(recipient="opened@example.com", campaign="mixed")
    open_(opened, "human")
    apple = message(recipient="apple@example.com", campaign="mixed")
    open_(apple, "apple_mpp", minutes=1)
    event(Download, apple)  # hidden cohort, a person acted: seen
    fetched = message(recipient="fetched@example.com", campaign="mixed")
    event(Download, fetched)  # nothing loaded, a person acted: images blocked
    visited = message(recipient="visited@example.com", campaign="mixed")
    click(visited, "scanner", minutes=0.2)
    event(Visit, visited, path="/offer/")  # the person's own click was taken for a scanner's
    scanned = message(recipient="scanned@example.com", campaign="mixed")
    event(Download, scanned, "scanner", minutes=0.2)  # machines only
    message(recipient="nobody@example.com", campaign="mixed")

    report = reports.campaign_report(campaign="mixed")
    rows = {row["cohort"]: row for row in report["cohorts"]}
    status = Message.objects.filter(campaign="mixed").with_status().aggregate(
        person=Count("pk", filter=Q(status=Status.PERSON)),
        unopened=Count("pk", filter=Q(status=Status.UNOPENED)))
    assert report["opened_by_person"] == 4 == status["person"]
    assert sum(row["opened_by_person"] for row in report["cohorts"]) == 4
    assert report["opened_any"] == 5 == report["sent"] - status["unopened"]
    assert (rows["hidden"]["person_clicks"], rows["none"]["person_clicks"]) == (1, 2)
    assert report["images_blocked"]["count"] == 2
    assert report["clicked_by_person"] == 0  # a click rate counts clicks alone


@pytest.mark.django_db(transaction=True)
def test_a_visit_not_enriched_yet_keeps_its_rollup_cell_live():
    visited = message(recipient="visited@example.com", campaign="mixed")
    click(visited, "scanner", minutes=0.2)
    rollup.refresh()
    assert reports.campaign_report(campaign="mixed")["opened_by_person"] == 0
    Visit.objects.create(message=visited, source="human", path="/offer/",
                         occurred_at=visited.sent_at + timedelta(minutes=30))
    assert rollup.report_partial(campaign="mixed")[1] == {"cells": 0, "live": 1}
    assert reports.campaign_report(campaign="mixed")["opened_by_person"] == 1


@pytest.mark.django_db
def test_figures_csv_rows():
    hidden_campaign()
    rows = list(reports.figures_rows(reports.campaign_report(campaign="spring")))
    assert ["opened_by_people_estimate", "value", 36] in rows
    assert ["images_blocked", "count", 1] in rows
    assert ["cohort_estimated_opens", rates.COHORT_LABELS["hidden"], 15] in rows
    assert ["images_blocked_daily", "2024-03-04", 1] in rows


@pytest.mark.django_db
def test_not_enough_data_is_said_not_guessed():
    hidden_campaign(hidden_clicks=rates.MIN_CLICKS - 1)
    report = reports.campaign_report(campaign="spring")
    assert report["opened_by_people_estimate"] is None
    assert "Not enough data" in report["opened_by_people_estimate_reason"]
    assert report["images_blocked"]["count"] == 1


@pytest.mark.django_db
def test_no_hidden_cohort_is_exact_and_empty_selection_says_why():
    m = message()
    open_(m, "human")
    report = reports.campaign_report()
    assert report["opened_by_people_estimate"]["value"] == 1 == \
        report["opened_by_people_estimate"]["high"]
    empty = reports.campaign_report(campaign="nope")
    assert empty["images_blocked"] is None and empty["images_blocked_reason"]


@pytest.mark.django_db(transaction=True)
def test_recipient_rule_reaches_across_cells_and_the_rollup_stays_exact():
    """A missed prefetch: the recipient's message of another campaign and day had one."""
    hidden_campaign()
    missed = message(recipient="apple0@spring.example", campaign="spring")
    click(missed, minutes=20)  # no open of its own: images blocked, unless Apple
    rollup.refresh()

    def blocked_and_hidden() -> tuple[int, int]:
        report = reports.campaign_report(campaign="spring")
        assert report == reports.finalize(reports.live_partial(campaign="spring"),
                                          campaign="spring")
        return report["images_blocked"]["count"], report["cohorts"][0]["sent"]

    assert blocked_and_hidden() == (1, 21)  # apple0's other message is in "spring" too
    other = message(recipient="tim@example.com", campaign="autumn",
                    sent_at=T0 + timedelta(days=3))
    click(other, minutes=20)
    rollup.refresh()
    assert reports.campaign_report(campaign="autumn")["images_blocked"]["count"] == 1
    # Tim's prefetch is seen later, on a message of another campaign and day: no marker
    # reaches the autumn cell, yet its report moves Tim to the hidden cohort at once.
    earlier = message(recipient="tim@example.com", campaign="winter", sent_at=T0 - timedelta(days=9))
    open_(earlier, "apple_mpp", minutes=2)
    report = reports.campaign_report(campaign="autumn")
    assert rollup.report_partial(campaign="autumn")[1] == {"cells": 1, "live": 0}
    assert report["images_blocked"]["count"] == 0
    assert report["cohorts"][0]["sent"] == 1
    assert report == reports.finalize(reports.live_partial(campaign="autumn"), campaign="autumn")


@pytest.mark.django_db(transaction=True)
def test_cells_built_before_the_cohorts_are_rebuilt():
    hidden_campaign()
    rollup.refresh()
    from django_leadpixel.models import ReportCell

    cell = ReportCell.objects.get()
    del cell.data["message_flags"]
    cell.save()
    assert rollup.report_partial(campaign="spring")[1] == {"cells": 0, "live": 1}
    assert reports.campaign_report(campaign="spring")["cohorts"][0]["sent"] == 20
    assert rollup.refresh()["built"] == 1
    assert rollup.report_partial(campaign="spring")[1] == {"cells": 1, "live": 0}
    # A cell built by earlier rules (downloads and visits not yet counted as acting on a link).
    cell = ReportCell.objects.get()
    del cell.data["rules"]
    cell.save()
    assert rollup.report_partial(campaign="spring")[1] == {"cells": 0, "live": 1}


@pytest.mark.django_db
def test_admin_report_shows_the_cards_the_note_and_the_cohorts(admin_client):
    hidden_campaign()
    url = reverse("admin:django_leadpixel_message_report")
    response = admin_client.get(url, {"campaign": "spring", "start": "", "end": ""})
    assert response.status_code == 200
    page = response.content.decode()
    estimate = response.context["report"]["opened_by_people_estimate"]
    assert "How many people really opened it" in page and "How this is estimated" in page
    assert f"90% interval: {estimate['low']} to {estimate['high']}" in page
    cohorts = page[page.index('id="lp-cohorts"'):]
    assert "<td>Opens hidden (Apple Mail Privacy Protection)</td><td>20</td><td>0</td><td>6</td>" \
           "<td>15</td>" in cohorts
    blocked = page[page.index('id="lp-blocked"'):]
    assert "2.4&nbsp;%</b>1" in blocked  # 1 of 42
    message(recipient="more@example.com", campaign="few")
    page = admin_client.get(url, {"campaign": "few", "start": "", "end": ""}).content.decode()
    assert "Not enough data" not in page  # nothing hidden: the count is exact
    hidden_campaign("thin", hidden_clicks=1)
    page = admin_client.get(url, {"campaign": "thin", "start": "", "end": ""}).content.decode()
    assert "Not enough data" in page


# --- simulated campaigns through the views ------------------------------------------------------

SENT_AT = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
SEEDS = range(1, 51)
GEOIP = Path(__file__).resolve().parent.parent / "fixtures" / "geoip"
LEADPIXEL = {"BASE_URL": "https://mail.example.com", "GEOIP_PATH": str(GEOIP),
             "GEOIP_CITY": "Test-City.mmdb", "GEOIP_ASN": "Test-ASN.mmdb"}


def play(client, seed: int) -> tuple[str, object]:
    campaign = make_rates_campaign(seed)
    name = f"rates-{seed}"
    current = {r.index: Message(recipient=f"r{r.index}@seed{seed}.example", subject="News",
                                campaign=name, sent_at=SENT_AT) for r in campaign.readers}
    earlier = {r.index: Message(recipient=f"r{r.index}@seed{seed}.example", subject="Before",
                                campaign=f"{name}-earlier", sent_at=SENT_AT - timedelta(seconds=EARLIER))
               for r in campaign.readers if r.earlier_message}
    Message.objects.bulk_create([*current.values(), *earlier.values()])
    paths = {}
    for key, messages in ((False, current), (True, earlier)):
        for index, m in messages.items():
            paths[(key, index)] = (urlsplit(m.pixel_url()).path,
                                   [urlsplit(m.tracked_url(f"https://shop.example.com/{n}", n)).path
                                    for n in range(LINKS)])
    with time_machine.travel(SENT_AT, tick=False) as clock:
        for hit in campaign.hits:
            clock.move_to(SENT_AT + timedelta(seconds=hit.at))
            pixel, links = paths[(hit.earlier, hit.recipient)]
            path = pixel if hit.kind == "open" else links[hit.link]
            response = client.get(path, REMOTE_ADDR=hit.ip, HTTP_USER_AGENT=hit.user_agent)
            assert response.status_code == (200 if hit.kind == "open" else 302), hit
        for _ in range(10):
            if not jobs.sweep():
                break
    return name, campaign


@pytest.mark.django_db
def test_simulated_campaigns_interval_holds_the_truth(client):
    reset_locator()
    results = []
    try:
        with override_settings(LEADPIXEL=LEADPIXEL):
            for seed in SEEDS:
                name, campaign = play(client, seed)
                report = reports.campaign_report(campaign=name)
                results.append((seed, campaign, report))
            rollup.refresh()  # the cells give the same figures
            for seed, _campaign, report in results[:5]:
                assert reports.campaign_report(campaign=f"rates-{seed}") == report
    finally:
        reset_locator()
    held, lines = 0, []
    for seed, campaign, report in results:
        estimate = report["opened_by_people_estimate"]
        blocked = report["images_blocked"]["count"]
        assert blocked == campaign.blocked, (seed, blocked, campaign.blocked)
        inside = estimate is not None and estimate["low"] <= campaign.opened <= estimate["high"]
        held += inside
        lines.append(f"seed {seed:2}: truth {campaign.opened:3}  "
                     + (f"estimate {estimate['value']:3} [{estimate['low']}, {estimate['high']}]"
                        if estimate else report["opened_by_people_estimate_reason"])
                     + f"  seen {report['opened_by_person']}  blocked {blocked}"
                     + ("" if inside else "  MISSED"))
    print("\n" + "\n".join(lines) + f"\nheld the truth in {held} of {len(results)}")
    assert held >= 0.85 * len(results), "\n".join(lines)


def test_the_simulated_campaign_is_what_it_claims():
    campaign = make_rates_campaign(1)
    assert {r.kind for r in campaign.readers} == {"apple", "gmail", "yahoo", "outlook", "phone",
                                                   "thunderbird"}
    assert campaign.blocked > 0 and campaign.hidden_readers > 20
    assert make_rates_campaign(1).hits == campaign.hits
    assert all(r.earlier_message for r in campaign.readers
               if r.kind == "apple" and not any(h.recipient == r.index and h.kind == "open"
                                                and not h.earlier for h in campaign.hits))
    assert date(2026, 3, 3) == (SENT_AT - timedelta(seconds=EARLIER)).date()
