"""Enrichment, purge, erase and reclassification over the database."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from django_leadpixel import jobs
from django_leadpixel.classify import classify
from django_leadpixel.enrichment import reset_locator
from django_leadpixel.models import Click, Message, Open

from ..conftest import CHROME, GMAIL_PROXY, IPHONE_SAFARI, make_message

pytestmark = pytest.mark.django_db

GEOIP = Path(__file__).parent.parent / "fixtures" / "geoip"
WITH_GEOIP = {"BASE_URL": "https://mail.example.com", "GEOIP_PATH": str(GEOIP),
              "GEOIP_CITY": "Test-City.mmdb", "GEOIP_ASN": "Test-ASN.mmdb"}


@pytest.fixture(autouse=True)
def geoip():
    with override_settings(LEADPIXEL=WITH_GEOIP):
        reset_locator()
        yield
    reset_locator()


def add_open(message, **fields):
    fields.setdefault("source", "human")
    return Open.objects.create(message=message, **fields)


def test_human_open_gets_place_and_device(message):
    event = add_open(message, ip="81.2.69.142", user_agent=CHROME)
    assert jobs.sweep() == 1
    event.refresh_from_db()
    assert (event.country, event.city, event.geo_status, event.masked) == ("GB", "London", "ok", False)
    assert event.asn == 20712 and event.as_org
    assert (event.device_type, event.os, event.browser) == ("desktop", "Windows", "Chrome")
    assert event.enriched_at is not None


def test_gmail_proxy_open_is_masked_never_mountain_view(message):
    # 66.249.80.0/20 is Mountain View in the fixture database, as in MaxMind's.
    event = add_open(message, ip="66.249.84.12", user_agent=GMAIL_PROXY, source="google_proxy",
                     operator="Google")
    jobs.sweep()
    event.refresh_from_db()
    assert event.masked and event.geo_status == "masked" and event.operator == "Google"
    assert (event.city, event.country, event.latitude, event.os, event.browser) == ("", "", None, "", "")


def test_ipv6_private_and_unknown_addresses(message):
    v6 = add_open(message, ip="2001:67c:2e8:22::c100:68b", user_agent=IPHONE_SAFARI)
    private = add_open(message, ip="10.1.2.3", user_agent=CHROME)
    unknown = add_open(message, ip="8.8.4.4", user_agent=CHROME)
    jobs.sweep()
    for event in (v6, private, unknown):
        event.refresh_from_db()
    assert (v6.country, v6.city, v6.device_type, v6.os) == ("NL", "Amsterdam", "mobile", "iOS")
    assert private.geo_status == "private" and private.country == ""
    assert unknown.geo_status == "not_found"


def test_anonymised_address_still_locates(message):
    event = add_open(message, ip="81.2.69.0", user_agent=CHROME)
    jobs.sweep()
    event.refresh_from_db()
    assert event.city == "London"


def test_enrichment_is_idempotent(message):
    event = add_open(message, ip="81.2.69.142", user_agent=CHROME)
    assert jobs.enrich_one("open", str(event.pk)) is True
    first = Open.objects.values().get(pk=event.pk)
    assert jobs.enrich_one("open", str(event.pk)) is False
    assert jobs.sweep() == 0
    assert Open.objects.values().get(pk=event.pk) == first


def test_missing_and_corrupt_databases_do_not_crash(message):
    for city, status in (("Nope.mmdb", "no_database"), ("Corrupt-City.mmdb", "corrupt")):
        with override_settings(LEADPIXEL={**WITH_GEOIP, "GEOIP_CITY": city}):
            event = add_open(message, ip="81.2.69.142", user_agent=CHROME)
            jobs.sweep()
            event.refresh_from_db()
            assert event.geo_status == status and event.country == ""
            assert event.device_type == "desktop"  # the device is still read


def test_geoip_check_warns(settings):
    from django_leadpixel.checks import check_geoip

    assert check_geoip() == []
    with override_settings(LEADPIXEL={**WITH_GEOIP, "GEOIP_CITY": "Corrupt-City.mmdb"}):
        [warning] = check_geoip()
        assert warning.id == "leadpixel.W001"


def test_sweep_in_batches(message):
    for _ in range(7):
        add_open(message, ip="81.2.69.142", user_agent=CHROME)
    assert jobs.sweep(batch_size=3, max_batches=1) == 3
    assert jobs.sweep(batch_size=3) == 4
    assert not Open.objects.filter(enriched_at=None).exists()


def test_enrich_command_all_and_since(message):
    old = add_open(message, ip="81.2.69.142", user_agent=CHROME,
                   occurred_at=timezone.now() - timedelta(days=10))
    new = add_open(message, ip="81.2.69.142", user_agent=CHROME)
    out = StringIO()
    call_command("leadpixel_enrich", "--no-progress", stdout=out)
    assert "enriched 2 events" in out.getvalue()
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("leadpixel_enrich", "--all", "--since", since, "--no-progress", stdout=out)
    assert "enriched 1 event" in out.getvalue()
    old.refresh_from_db(), new.refresh_from_db()
    assert new.enriched_at > old.enriched_at
    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command("leadpixel_enrich", "--since", "yesterday")


def test_purge_deletes_old_messages_in_batches_and_is_idempotent():
    now = timezone.now()
    old = [make_message(sent_at=now - timedelta(days=40)) for _ in range(5)]
    keep = make_message(sent_at=now - timedelta(days=5))
    for msg in (*old, keep):
        add_open(msg)
        Click.objects.create(message=msg, url="https://example.com/", source="human")
    assert jobs.purge(30, batch_size=2) == 5
    assert jobs.purge(30) == 0
    assert list(Message.objects.all()) == [keep]
    assert Open.objects.count() == 1 and Click.objects.count() == 1


def test_purge_command_uses_retention_days():
    make_message(sent_at=timezone.now() - timedelta(days=3))
    out = StringIO()
    call_command("leadpixel_purge", stdout=out)
    assert "RETENTION_DAYS" in out.getvalue() and Message.objects.count() == 1
    with override_settings(LEADPIXEL={**WITH_GEOIP, "RETENTION_DAYS": 2}):
        call_command("leadpixel_purge", stdout=out)
    assert Message.objects.count() == 0


def test_erase_removes_everything_about_one_recipient():
    gone = make_message(recipient="Erase.Me@example.com")
    add_open(gone, ip="81.2.69.142", user_agent=CHROME)
    other = make_message(recipient="stay@example.com")
    add_open(other)
    out = StringIO()
    call_command("leadpixel_erase", "erase.me@example.com", stdout=out)
    assert "erased 1 message" in out.getvalue()
    assert list(Message.objects.values_list("recipient", flat=True)) == ["stay@example.com"]
    assert Open.objects.count() == 1
    with pytest.raises(CommandError, match="not an email address"):
        call_command("leadpixel_erase", "not-an-address")


def test_reclassify_corrects_history_and_drops_stale_enrichment(message):
    wrong = add_open(message, ip="66.249.84.12", user_agent=GMAIL_PROXY, source="human",
                     reason="old rules", country="US", city="Mountain View",
                     enriched_at=timezone.now())
    verdict = classify(ip="81.2.69.142", user_agent=CHROME, kind="open")
    right = add_open(message, ip="81.2.69.142", user_agent=CHROME, source=verdict.source,
                     reason=verdict.reason, enriched_at=timezone.now())
    right_before = Open.objects.values("source", "reason", "enriched_at").get(pk=right.pk)
    out = StringIO()
    call_command("leadpixel_reclassify", "--no-progress", stdout=out)
    wrong.refresh_from_db()
    assert wrong.source == "google_proxy" and wrong.enriched_at is None
    assert Open.objects.values("source", "reason", "enriched_at").get(pk=right.pk) == right_before
    assert "changed 1" in out.getvalue()
    jobs.sweep()
    wrong.refresh_from_db()
    assert wrong.city == "" and wrong.masked
    call_command("leadpixel_reclassify", "--no-progress", stdout=out)
    assert out.getvalue().rstrip().endswith("changed 0")


def test_reclassify_says_when_it_worked_from_anonymised_addresses(message):
    add_open(message, ip="81.2.69.0", user_agent=CHROME)
    out = StringIO()
    with override_settings(LEADPIXEL={**WITH_GEOIP, "ANONYMIZE_IP": True}):
        call_command("leadpixel_reclassify", "--no-progress", stdout=out)
    assert "stored truncated (ANONYMIZE_IP)" in out.getvalue()


def human_clicks(message, count: int, every_ms: int, ip: str = "198.51.100.5") -> list[Click]:
    """``count`` clicks of different links, ``every_ms`` apart, stored as a person's."""
    now = timezone.now()
    return [Click.objects.create(message=message, url=f"https://example.com/{i}", position=i,
                                 occurred_at=now + timedelta(milliseconds=every_ms * i),
                                 source="human", ip=ip, user_agent=CHROME)
            for i in range(count)]


def test_click_burst_is_found_again_by_reclassify(message):
    human_clicks(message, 4, every_ms=100)
    jobs.reclassify()
    assert list(Click.objects.values_list("source", flat=True)) == ["scanner"] * 4


def test_settling_a_batch_convicts_its_neighbours_of_a_burst_in_memory_too(message):
    # Links 1, 2, 3 at 0, 0.9 and 1.8 s: only the middle click has two others within a
    # second, but the burst convicts both neighbours, and all three are enriched masked.
    human_clicks(message, 3, every_ms=900, ip="81.2.69.160")
    assert jobs.sweep() == 3
    rows = Click.objects.order_by("occurred_at")
    assert [row.source for row in rows] == ["scanner"] * 3
    assert all(row.masked and row.enriched_at and not row.country for row in rows)
    # Every click within the window of the middle one is part of its burst.
    assert {row.reason for row in rows} == {"3 links of the message clicked within a second"}


def test_settling_twice_changes_nothing(message):
    human_clicks(message, 3, every_ms=100)
    rows = list(Click.objects.only(*jobs.read_fields(Click)))
    assert len(jobs.settle_clicks(rows)) == 3
    before = list(Click.objects.values_list("source", "reason").order_by("occurred_at"))
    assert jobs.settle_clicks(list(Click.objects.only(*jobs.read_fields(Click)))) == []
    assert list(Click.objects.values_list("source", "reason").order_by("occurred_at")) == before


def test_settling_many_bursts_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    messages = [make_message(recipient=f"s{i}@example.com") for i in range(30)]
    for m in messages:
        human_clicks(m, 3, every_ms=100)
    rows = list(Click.objects.only(*jobs.read_fields(Click)))
    # Sent times, nearby clicks, one UPDATE per distinct verdict, one for the bursts'
    # neighbours: not one per click or per burst.
    with django_assert_max_num_queries(8):
        assert len(jobs.settle_clicks(rows)) == 90
    assert set(Click.objects.values_list("source", flat=True)) == {"scanner"}
    assert {row.source for row in rows} == {"scanner"}


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000), st.integers(0, 4)),
                max_size=40))
def test_burst_counts_match_a_plain_count(rows):
    from types import SimpleNamespace

    from django_leadpixel.history import BURST_MIN_OTHERS, BURST_WINDOW, burst_counts

    base = timezone.now()
    clicks = [SimpleNamespace(pk=i, message_id=m, occurred_at=base + timedelta(milliseconds=ms),
                              url=f"https://example.com/{p}") for i, (m, ms, p) in enumerate(rows)]

    def near(c):
        return [o for o in clicks if o.message_id == c.message_id
                and abs(o.occurred_at - c.occurred_at) <= BURST_WINDOW]

    own = {c.pk: len({o.url for o in near(c)} - {c.url}) for c in clicks}
    expected = {}
    for c in clicks:  # a click within the window of a burst belongs to it
        bursts = [own[o.pk] for o in near(c) if own[o.pk] >= BURST_MIN_OTHERS]
        expected[c.pk] = max(bursts) if bursts else own[c.pk]
    assert burst_counts(clicks) == expected
