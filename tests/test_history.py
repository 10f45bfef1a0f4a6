"""history: what a message's other events say about a click, the same on every path."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_leadpixel import history, jobs, tokens
from django_leadpixel.classify import classify
from django_leadpixel.history import judge, stale_browser
from django_leadpixel.ingest.bulk import store_many
from django_leadpixel.ingest.hits import Hit, dumps, from_line, to_line
from django_leadpixel.ingest.record import record, verdict_for
from django_leadpixel.models import Click, Download, Message

from .conftest import CHROME, IPHONE_SAFARI, make_message

HOME_IP = "192.0.2.10"
EOP_IP = "40.107.22.5"
RELAY_IP = "172.225.5.1"
OLD_CHROME = ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/57.0.2987.133 Safari/537.36")  # Safe Links detonation, gophish#973
BARE_WEBKIT = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko)")
GMAIL_PREFETCH = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0")


@pytest.mark.parametrize("ua, expected", [
    (OLD_CHROME, "Chrome 57"),
    (CHROME, ""),
    (CHROME.replace("120.0.0.0", "109.0.5414.120"), ""),  # Windows 7's last Chrome
    (CHROME.replace("120.0.0.0", "96.0.4664.45"), "Chrome 96"),
    ("Mozilla/5.0 (Windows NT 10.0; rv:102.0) Gecko/20100101 Firefox/102.0", "Firefox 102"),
    ("Mozilla/5.0 (Windows NT 6.1; rv:115.0) Gecko/20100101 Firefox/115.0", ""),
    (CHROME + " Edg/100.0.1185.29", "Edge 100"),
    ("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer or legacy Edge"),
    (IPHONE_SAFARI, ""),
    ("", ""),
])
def test_stale_browser(ua, expected):
    assert stale_browser(ua) == expected


@pytest.mark.parametrize("kind", ["click", "download"])
def test_a_single_old_browser_click_at_delivery_before_any_open_is_a_scanner(kind):
    verdict = judge(ip=HOME_IP, user_agent=OLD_CHROME, kind=kind, seconds_since_sent=8,
                    person_opened_before=False)
    assert verdict.source == "scanner"
    assert "Chrome 57" in verdict.reason and "8 s after sending" in verdict.reason
    assert verdict.reason.startswith(kind.capitalize())


def test_a_download_in_a_burst_is_a_scanner_and_a_visit_is_not_judged_by_it():
    assert judge(ip=HOME_IP, user_agent=CHROME, kind="download", burst=2).source == "scanner"
    assert judge(ip=HOME_IP, user_agent=CHROME, kind="visit", burst=2).source == "human"


@pytest.mark.parametrize("facts", [
    {"seconds_since_sent": 7200, "person_opened_before": False},  # late: a person's old PC
    {"seconds_since_sent": 8, "person_opened_before": True},  # opened first
    {"seconds_since_sent": 8},  # history unknown: the old browser alone decides nothing
    {"seconds_since_sent": -5, "person_opened_before": False},  # clock skew, not delivery time
])
def test_an_old_browser_alone_is_thin_evidence(facts):
    assert judge(ip=HOME_IP, user_agent=OLD_CHROME, kind="click", **facts).source == "human"


def test_timing_alone_never_decides():
    for secs in (0, 5, 30, 170):
        verdict = judge(ip=HOME_IP, user_agent=IPHONE_SAFARI, kind="click",
                        seconds_since_sent=secs, person_opened_before=False)
        assert verdict.source == "human", verdict.reason


def test_opens_are_never_judged_by_click_history():
    verdict = judge(ip=HOME_IP, user_agent=OLD_CHROME, kind="open", seconds_since_sent=3,
                    burst=9, person_opened_before=False)
    assert verdict == classify(ip=HOME_IP, user_agent=OLD_CHROME, kind="open")


def test_a_vendor_network_counts_only_where_nothing_was_opened_from_it():
    quiet = judge(ip=EOP_IP, user_agent=CHROME, kind="click", seconds_since_sent=20,
                  opened_from_network=False, person_opened_before=False)
    assert (quiet.source, quiet.operator) == ("scanner", "Microsoft")
    # A person behind the vendor's browser isolation opened from there first.
    isolated = judge(ip=EOP_IP, user_agent=CHROME, kind="click", seconds_since_sent=20,
                     opened_from_network=True, person_opened_before=True)
    assert isolated.source == "unknown"
    # Something opened from there, but nobody knows whether it was a person.
    assert judge(ip=EOP_IP, user_agent=CHROME, kind="click", seconds_since_sent=20,
                 opened_from_network=True).source == "unknown"


def test_a_vendors_asn_is_evidence_once_enrichment_knows_it():
    # Proofpoint publishes no addresses for its link checks; AS26211 is its network.
    at_delivery = judge(ip="192.0.2.99", user_agent=CHROME, kind="click", asn=26211,
                        seconds_since_sent=20, person_opened_before=False)
    assert (at_delivery.source, at_delivery.operator) == ("scanner", "Proofpoint")
    late = judge(ip="192.0.2.99", user_agent=CHROME, kind="click", asn=26211,
                 seconds_since_sent=7200, person_opened_before=False)
    assert (late.source, late.operator) == ("unknown", "Proofpoint")  # browser isolation


def test_a_cloud_network_at_delivery_before_any_open_is_a_scanner_and_later_a_person():
    facts = {"ip": "192.0.2.98", "user_agent": CHROME, "kind": "click", "asn": 16509}
    assert judge(**facts, seconds_since_sent=30, person_opened_before=False).source == "scanner"
    assert judge(**facts, seconds_since_sent=30, person_opened_before=True).source == "human"
    assert judge(**facts, seconds_since_sent=3600, person_opened_before=False).source == "human"
    # Gmail's proxy lives in Google's AS15169: never a cloud for this rule.
    google = {**facts, "asn": 15169}
    assert judge(**google, seconds_since_sent=30, person_opened_before=False).source == "human"


def test_gmails_prefetcher_is_a_google_machine_not_an_open():
    verdict = classify(ip="66.249.84.20", user_agent=GMAIL_PREFETCH, kind="open")
    assert (verdict.source, verdict.operator) == ("bot", "Google")
    assert verdict.is_machine


def test_the_bare_webkit_agent_alone_is_not_apple():
    # Apple Mail without MPP (and Outlook, warmbly PR#569) send it too: a late fetch from a
    # residential address is a person; the same agent from Apple's relay is a prefetch.
    late_home = judge(ip=HOME_IP, user_agent=BARE_WEBKIT, kind="open", seconds_since_sent=7200)
    assert late_home.source == "human"
    at_delivery_relay = judge(ip=RELAY_IP, user_agent=BARE_WEBKIT, kind="open",
                              seconds_since_sent=4)
    assert (at_delivery_relay.source, at_delivery_relay.operator) == ("apple_mpp", "Apple")


# --- through the database -----------------------------------------------------------------


REPORT = uuid.UUID("5d0c4f0e-0000-4000-8000-000000000001")  # a document's public id


def scenario(message, t0):
    """Hits of one message: a gateway's burst on tracked_url() links and a document
    from a network no shipped range names, an old browser's detonation of a link and
    of the document, the person's open, click and download later (as (offset
    seconds, Hit))."""
    hits = [(0.2 + 0.1 * n, Hit(kind="click", message_id=message.public_id, ip="203.0.113.40",
                                user_agent=CHROME, url=f"https://example.com/{n}"))
            for n in range(2)]
    hits.append((0.45, Hit(kind="download", message_id=message.public_id, ip="203.0.113.41",
                           user_agent=CHROME, document_id=REPORT)))
    hits.append((12, Hit(kind="click", message_id=message.public_id, ip="192.0.2.77",
                         user_agent=OLD_CHROME, url="https://example.com/1")))
    hits.append((14, Hit(kind="download", message_id=message.public_id, ip="192.0.2.77",
                         user_agent=OLD_CHROME, document_id=REPORT)))
    hits.append((3600, Hit(kind="open", message_id=message.public_id, ip=HOME_IP,
                           user_agent=IPHONE_SAFARI)))
    hits.append((3620, Hit(kind="click", message_id=message.public_id, ip=HOME_IP,
                           user_agent=IPHONE_SAFARI, url="https://example.com/2")))
    hits.append((3620.5, Hit(kind="download", message_id=message.public_id, ip=HOME_IP,
                             user_agent=IPHONE_SAFARI, document_id=REPORT)))
    for offset, hit in hits:
        hit.occurred_at = t0 + timedelta(seconds=offset)
    return [hit for _, hit in hits]


def verdicts() -> list[tuple[str, str, str, str]]:
    rows = [("click", *row) for row in Click.objects.values_list("occurred_at", "source", "reason")]
    rows += [("download", *row) for row in Download.objects.values_list("occurred_at", "source", "reason")]
    return [(kind, str(at - Message.objects.get().sent_at), source, reason)
            for kind, at, source, reason in sorted(rows, key=lambda row: row[1])]


# The burst (two links and the document), the old browser's link and document, the person.
EXPECTED = ["scanner"] * 3 + ["scanner"] * 2 + ["human"] * 2


@pytest.mark.django_db
def test_every_path_gives_the_same_verdicts():
    t0 = timezone.now() - timedelta(days=1)
    results = {}
    for path in ("direct", "drain", "replay", "reclassify"):
        Message.objects.all().delete()
        message = make_message(sent_at=t0, recipient=f"{path}@example.com")
        hits = scenario(message, t0)
        if path == "direct":  # the request stores what it saw; enrichment settles
            for hit in hits:
                assert record(hit)
            jobs.sweep()
        elif path == "drain":
            store_many([(hit, verdict_for(hit)) for hit in hits])
        elif path == "replay":  # the spool's JSON lines, one batch per line
            for hit in hits:
                store_many([from_line(dumps(to_line(hit, verdict_for(hit))))])
        else:  # stored as the requests saw them, then judged over the whole history
            store_many([(hit, verdict_for(hit)) for hit in hits])
            Click.objects.update(source="human", reason="reset")
            Download.objects.update(source="human", reason="reset")
            call_command("leadpixel_reclassify", "--no-progress", batch_size=1)
        results[path] = verdicts()
        assert [row[2] for row in results[path]] == EXPECTED, (path, results[path])
    for path, rows in results.items():
        assert rows == results["direct"], path


@pytest.mark.django_db
def test_reclassify_judges_each_message_whole_and_a_second_run_changes_nothing():
    t0 = timezone.now() - timedelta(days=1)
    for n in range(3):
        message = make_message(sent_at=t0, recipient=f"r{n}@example.com")
        store_many([(hit, verdict_for(hit)) for hit in scenario(message, t0)])
    # A delivery-time browser click from Microsoft's network with nothing opened there.
    eop = make_message(sent_at=t0, recipient="eop@example.com")
    store_many([(Hit(kind="click", message_id=eop.public_id, ip=EOP_IP, user_agent=CHROME,
                     url="https://example.com/x", occurred_at=t0 + timedelta(seconds=9)),
                 verdict_for(Hit(kind="click", message_id=eop.public_id, ip=EOP_IP,
                                 user_agent=CHROME)))])
    jobs.sweep()
    before = set(Click.objects.values_list("id", "source", "reason", "operator"))
    assert Click.objects.get(message=eop).source == "scanner"
    # Batches of one message, or two: the burst is seen whole either way.
    for size in (1, 2):
        assert jobs.reclassify(batch_size=size)["changed"] == 0
    assert set(Click.objects.values_list("id", "source", "reason", "operator")) == before
    assert not Click.objects.filter(enriched_at=None).exists()


@pytest.mark.django_db
def test_reclassify_after_a_rule_change_is_idempotent():
    t0 = timezone.now() - timedelta(days=1)
    message = make_message(sent_at=t0)
    store_many([(hit, verdict_for(hit)) for hit in scenario(message, t0)])
    Click.objects.update(source="human", reason="an older rule said so")
    first = jobs.reclassify()
    assert first["changed"] == Click.objects.count()
    after = set(Click.objects.values_list("id", "source", "reason"))
    assert jobs.reclassify() == {**first, "changed": 0}
    assert set(Click.objects.values_list("id", "source", "reason")) == after


@pytest.mark.django_db
def test_settle_convicts_stored_neighbours_and_sends_them_back_to_enrichment():
    message = make_message(sent_at=timezone.now() - timedelta(days=1))
    t = timezone.now()
    first = Click.objects.create(message=message, source="human", url="https://example.com/a",
                                 occurred_at=t, ip=HOME_IP, user_agent=CHROME,
                                 enriched_at=t, country="GB")
    later = [Click.objects.create(message=message, source="human", url=f"https://example.com/{x}",
                                  occurred_at=t + timedelta(milliseconds=ms), ip=HOME_IP,
                                  user_agent=CHROME)
             for x, ms in (("b", 400), ("c", 800))]
    changed = history.settle(later)
    assert {row.source for row in changed} == {"scanner"}
    first.refresh_from_db()
    assert (first.source, first.enriched_at) == ("scanner", None)
    jobs.sweep()
    first.refresh_from_db()
    assert first.masked and first.country == ""


@pytest.mark.django_db
def test_an_anonymous_click_keeps_its_no_consent_reason_when_a_burst_convicts_it(client):
    message = make_message(tracking_consent=False, sent_at=timezone.now() - timedelta(hours=2))
    for n in range(3):
        client.get(message.tracked_url(f"https://example.com/{n}"), HTTP_USER_AGENT=CHROME,
                   REMOTE_ADDR=HOME_IP)
    jobs.sweep()
    rows = list(Click.objects.values_list("source", "reason", "ip", "user_agent"))
    assert {row[0] for row in rows} == {"scanner"}
    assert all(row[2] is None and row[3] == "" and "no tracking consent" in row[1] for row in rows)


@pytest.mark.django_db
def test_the_drain_reads_the_batchs_own_opens_for_person_opened_before():
    t0 = timezone.now() - timedelta(days=1)
    message = make_message(sent_at=t0)
    opened = Hit(kind="open", message_id=message.public_id, ip=HOME_IP, user_agent=IPHONE_SAFARI,
                 occurred_at=t0 + timedelta(seconds=5))
    clicked = Hit(kind="click", message_id=message.public_id, ip="192.0.2.200",
                  user_agent=OLD_CHROME, url="https://example.com/1",
                  occurred_at=t0 + timedelta(seconds=20))
    store_many([(opened, verdict_for(opened)), (clicked, verdict_for(clicked))])
    # An old PC, but the person had opened the mail first: a person.
    assert Click.objects.get().source == "human"


@pytest.mark.django_db
@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ANONYMIZE_IP": True})
def test_anonymised_addresses_still_tell_the_network(client):
    message = make_message()
    client.get("/t/o/" + tokens.make_open_token(message.public_id) + ".gif",
               HTTP_USER_AGENT=IPHONE_SAFARI, REMOTE_ADDR="40.107.22.9")
    client.get(message.tracked_url("https://example.com/a"), HTTP_USER_AGENT=CHROME,
               REMOTE_ADDR=EOP_IP)
    jobs.sweep()
    # Something was opened from that /24 first (browser isolation): not a scanner by network.
    assert Click.objects.get().source == "unknown"


def test_hostile_facts_never_raise():
    for facts in ({"seconds_since_sent": float("nan")}, {"seconds_since_sent": "soon"},
                  {"burst": "3"}, {"burst": True}, {"asn": "16509"}, {"asn": -1},
                  {"person_opened_before": "no"}):
        assert judge(ip=HOME_IP, user_agent=CHROME, kind="click", **facts).source == "human"

