"""Tracked documents: the model, the signed link, streaming with Range and HEAD,
redirects, the 410 of a deleted document, and the ``Download`` events."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.template import Context, Template
from django.utils import timezone

from django_leadpixel import reports, tokens
from django_leadpixel.classify import Verdict
from django_leadpixel.ingest import record as record_module
from django_leadpixel.ingest.bulk import store_many
from django_leadpixel.ingest.hits import Hit, dumps, from_line, to_line
from django_leadpixel.jobs import enrich, retention
from django_leadpixel.jobs.reclassify import reclassify
from django_leadpixel.models import Document, Download, Message, Status
from django_leadpixel.signals import download_recorded

from .conftest import CHROME, ROOT, make_message
from .imagefiles import pdf
from .ingest.test_spool import down_database_env, fetch

pytestmark = pytest.mark.django_db

PDF = pdf("Climate report") + b"%" + bytes(range(256)) * 8  # a few KB, every byte value
SCANNER = "Kaspersky Lab CFR link resolver cfradmins@kaspersky.com"


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MEDIA_URL = "/media/"
    return tmp_path / "media"


@pytest.fixture
def document():
    doc = Document(title="Climate report 2026", disposition="attachment")
    doc.file.save("climate-report.pdf", ContentFile(PDF), save=False)
    doc.save()
    return doc


def path_of(url: str) -> str:
    return url.split("https://mail.example.com", 1)[1]


def get(client, url, **headers):
    headers.setdefault("HTTP_USER_AGENT", CHROME)
    headers.setdefault("REMOTE_ADDR", "81.2.69.160")
    return client.get(path_of(url), **headers)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_document_knows_its_slug_type_and_size(document):
    assert (document.slug, document.content_type, document.size, document.filename) == (
        "climate-report-2026", "application/pdf", len(PDF), "climate-report-2026.pdf")
    message = make_message()
    url = Template("{% load leadpixel %}{% tracked_download m d %}").render(
        Context({"m": message, "d": document}))
    assert re.fullmatch(r"https://mail\.example\.com/t/d/[a-z2-7]+/climate-report-2026\.pdf", url)
    assert url == message.download_url(document)
    target = tokens.read_download(url.split("/")[5])
    assert (target.message_id, target.document_id) == (message.public_id, document.public_id)


def test_a_download_streams_the_file_with_headers_and_is_recorded(client, document):
    message = make_message()
    received = []
    download_recorded.connect(lambda **kw: received.append(kw["event"]), weak=False, dispatch_uid="dl")
    try:
        response = get(client, message.download_url(document))
    finally:
        download_recorded.disconnect(dispatch_uid="dl")
    assert response.status_code == 200 and response.streaming
    assert body(response) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(PDF))
    assert response["Content-Disposition"] == 'attachment; filename="climate-report-2026.pdf"'
    assert response["Accept-Ranges"] == "bytes"
    event = Download.objects.get()
    assert (event.message, event.document, event.source, event.method) == (
        message, document, "human", "GET")
    assert received and received[0].pk == event.pk


def test_inline_documents_are_shown_in_the_browser(client, document):
    document.disposition = "inline"
    document.save()
    response = get(client, make_message().download_url(document))
    assert response["Content-Disposition"] == 'inline; filename="climate-report-2026.pdf"'


def test_ranges_answer_206_and_416_and_only_the_first_range_counts(client, document):
    message = make_message()
    url = message.download_url(document)
    first = get(client, url, HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206 and body(first) == PDF[:100]
    assert (first["Content-Range"], first["Content-Length"]) == (f"bytes 0-99/{len(PDF)}", "100")
    rest = get(client, url, HTTP_RANGE="bytes=100-")
    assert rest.status_code == 206 and body(rest) == PDF[100:]
    assert rest["Content-Range"] == f"bytes 100-{len(PDF) - 1}/{len(PDF)}"
    tail = get(client, url, HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and body(tail) == PDF[-10:]
    beyond = get(client, url, HTTP_RANGE=f"bytes={len(PDF)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(PDF)}"
    odd = get(client, url, HTTP_RANGE="bytes=0-1,5-9")  # several ranges: the whole file
    assert odd.status_code == 200 and body(odd) == PDF
    # One viewer fetching in pieces is one download; the whole file fetched again by the
    # same reader within REPEAT_WINDOW is a repeat of it, as for every event.
    assert list(Download.objects.values_list("method", "repeats")) == [("GET", 1)]


def test_head_answers_headers_only_and_counts_as_a_machine(client, document):
    response = client.head(path_of(make_message().download_url(document)), HTTP_USER_AGENT=CHROME,
                           REMOTE_ADDR="81.2.69.160")
    assert response.status_code == 200 and body(response) == b""
    assert response["Content-Length"] == str(len(PDF))
    event = Download.objects.get()
    assert event.method == "HEAD" and event.source != "human"


def test_scanners_are_classified_like_clicks(client, document):
    get(client, make_message().download_url(document), HTTP_USER_AGENT=SCANNER)
    assert Download.objects.get().source in ("scanner", "bot")


# A gateway's address in TEST-NET-3: no shipped range or ASN names it, so only the
# message's history can tell that a machine fetched the file.
GATEWAY = "203.0.113.61"
STALE_CHROME = ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/79.0.3945.130 Safari/537.36")


def test_a_gateway_fetching_the_links_and_the_file_within_a_second_is_a_scanner(client, document):
    message = make_message(sent_at=timezone.now() - timedelta(hours=5))
    for url in (message.tracked_url("https://example.com/offer"), message.download_url(document),
                message.tracked_url("https://example.com/unsubscribe")):
        get(client, url, REMOTE_ADDR=GATEWAY)
    enrich.sweep()
    download = Download.objects.get()
    assert (download.source, download.reason) == ("scanner", "3 links of the message clicked within a second")
    assert download.masked and download.country == ""
    assert set(message.clicks.values_list("source", flat=True)) == {"scanner"}
    assert reclassify()["changed"] == 0  # the same verdicts, judged over the whole message


def test_a_person_fetching_the_file_and_a_link_within_a_second_is_no_burst(client, document,
                                                                           settings):
    settings.LEADPIXEL = {**settings.LEADPIXEL, "REPEAT_WINDOW": 0}  # store the double click
    message = make_message(sent_at=timezone.now() - timedelta(hours=5))
    for url in (message.download_url(document), message.tracked_url("https://example.com/offer"),
                message.download_url(document)):  # a double click on the download link
        get(client, url, HTTP_ACCEPT="application/pdf")
    enrich.sweep()
    assert list(message.downloads.values_list("source", flat=True)) == ["human", "human"]
    assert set(message.clicks.values_list("source", flat=True)) == {"human"}


def test_a_download_at_delivery_time_by_a_browser_no_system_runs_is_a_scanner(client, document):
    fresh, old = make_message(), make_message(recipient="b@example.com",
                                              sent_at=timezone.now() - timedelta(days=2))
    for message in (fresh, old):
        get(client, message.download_url(document), HTTP_USER_AGENT=STALE_CHROME, REMOTE_ADDR=GATEWAY)
    enrich.sweep()
    at_delivery, later = fresh.downloads.get(), old.downloads.get()
    assert at_delivery.source == "scanner" and at_delivery.reason.startswith("Download ")
    assert "Chrome 79, a browser no supported system still runs" in at_delivery.reason
    assert later.source == "human"  # two days on, an old PC is a person's


def test_external_documents_and_storage_urls_are_redirects(client, document, settings):
    message = make_message()
    external = Document.objects.create(title="Annual report",
                                       url="https://cdn.example.com/annual-report.pdf")
    assert external.content_type == "application/pdf" and external.extension == "pdf"
    response = get(client, message.download_url(external))
    assert (response.status_code, response["Location"]) == (
        302, "https://cdn.example.com/annual-report.pdf")
    settings.LEADPIXEL = {**settings.LEADPIXEL, "DOCUMENT_REDIRECT": True}
    response = get(client, message.download_url(document))
    assert (response.status_code, response["Location"]) == (302, "/media/" + document.file.name)
    assert Download.objects.count() == 2


def test_a_deleted_document_answers_410_and_is_still_recorded(client, document, admin_client):
    message = make_message()
    url = message.download_url(document)
    public_id = document.public_id
    document.delete()
    response = get(client, url)
    assert response.status_code == 410
    assert b"no longer available" in response.content
    event = Download.objects.get()
    assert event.document_id == public_id and event.message == message
    listing = admin_client.get("/admin/django_leadpixel/download/").content.decode()
    assert "(deleted document)" in listing


def test_bad_and_tampered_tokens_answer_404(client, document):
    message = make_message()
    url = path_of(message.download_url(document))
    token = url.split("/")[3]
    flipped = token[:-3] + ("a" if token[-3] != "a" else "b") + token[-2:]
    for bad in (flipped, tokens.make_open_token(message.public_id), "nonsense"):
        assert client.get(f"/t/d/{bad}/climate-report.pdf").status_code == 404
    assert not Download.objects.exists()


def test_downloads_are_enriched_on_the_timeline_and_in_the_figures(client, document, settings):
    settings.LEADPIXEL = {**settings.LEADPIXEL, "GEOIP_PATH": str(ROOT / "tests" / "fixtures" / "geoip"),
                          "GEOIP_CITY": "Test-City.mmdb"}
    sent = timezone.now() - timedelta(hours=3)
    person = make_message(campaign="climate", recipient="ada@example.com", sent_at=sent)
    machine = make_message(campaign="climate", recipient="bob@example.com", sent_at=sent)
    make_message(campaign="climate", recipient="cy@example.com", sent_at=sent)
    get(client, person.download_url(document))
    get(client, machine.download_url(document), HTTP_USER_AGENT=SCANNER, REMOTE_ADDR="203.0.113.9")
    enrich.sweep()
    event = Download.objects.get(message=person)
    assert (event.country, event.city, event.browser) == ("GB", "London", "Chrome")
    assert event.enriched_at is not None
    statuses = dict(Message.objects.with_status().values_list("recipient", "status"))
    assert statuses == {"ada@example.com": Status.PERSON, "bob@example.com": Status.MACHINE,
                        "cy@example.com": Status.UNOPENED}
    report = reports.campaign_report(campaign="climate")
    assert (report["sent"], report["opened_by_person"], report["opened_any"]) == (3, 1, 2)
    docs = reports.document_report(campaign="climate")
    assert (docs["downloads_by_people"], docs["downloads_by_machines"]) == (1, 1)
    assert docs["by_document"] == [{"document": str(document.public_id),
                                    "title": "Climate report 2026", "people": 1, "machines": 1}]
    assert docs["by_campaign"] == [{"campaign": "climate", "people": 1, "machines": 1}]
    assert docs["top_countries"] == [("GB", 1)]
    assert sum(day["people"] for day in docs["daily"]) == 1
    entries = reports.timeline(person)
    assert [(e["kind"], getattr(e["event"], "document_title", None)) for e in entries] == [
        ("sent", None), ("download", "Climate report 2026")]


def test_downloads_mixed_with_opens_and_clicks_count_a_message_once(client, document):
    message = make_message(campaign="mix")
    get(client, "https://mail.example.com/t/o/" + tokens.make_open_token(message.public_id) + ".gif")
    get(client, message.tracked_url("https://example.com/offer"))
    get(client, message.download_url(document))
    report = reports.campaign_report(campaign="mix")
    assert (report["opened_by_person"], report["opened_any"], report["clicked_by_person"]) == (1, 1, 1)


def test_the_spool_and_the_replay_keep_the_document(document):
    message = make_message()
    hit = Hit(kind="download", message_id=message.public_id, document_id=document.public_id,
              user_agent=CHROME)
    line = dumps(to_line(hit, Verdict("human", "")))
    assert json.loads(line)["document"] == str(document.public_id)
    parsed = from_line(line)
    assert store_many([parsed]) == Counter(stored=1)
    assert store_many([parsed])["duplicate"] == 1
    assert Download.objects.get().document == document


def test_retention_and_erase_cover_downloads(client, document):
    old = make_message(recipient="old@example.com", sent_at=timezone.now() - timedelta(days=40))
    kept = make_message(recipient="kept@example.com")
    for message in (old, kept):
        get(client, message.download_url(document))
    totals: Counter[str] = Counter()
    assert retention.purge(30, totals=totals) == 1
    assert totals["downloads"] == 1
    assert list(Download.objects.values_list("message__recipient", flat=True)) == ["kept@example.com"]
    call_command("leadpixel_erase", "KEPT@example.com", stdout=open(os.devnull, "w"))
    assert not Download.objects.exists()
    assert Document.objects.filter(pk=document.pk).exists()  # the document is not the reader's


def test_database_down_still_serves_and_spools(client, document, monkeypatch, settings):
    """Fail-open: with every database call failing, the document (seen once by this
    process) is still served, the image too, and both hits are spooled."""
    image_root = settings.MEDIA_ROOT + "-images"
    os.makedirs(image_root + "/img")
    with open(image_root + "/img/chart.png", "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    settings.LEADPIXEL = {**settings.LEADPIXEL, "IMAGE_ROOTS": [image_root]}
    message = make_message()
    download_url, image_url = message.download_url(document), message.image_url("img/chart.png")
    assert get(client, download_url).status_code == 200  # seen once while the database is up
    unknown = Document.objects.create(title="Never served", url="https://cdn.example.com/x.pdf")
    unknown_url = message.download_url(unknown)
    spooled = []
    monkeypatch.setattr(record_module, "spool", lambda hit, verdict: spooled.append((hit, verdict)))

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", down)
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", down)
    response = get(client, download_url)
    assert response.status_code == 200 and body(response) == PDF
    image = get(client, image_url)
    assert image.status_code == 200 and body(image).startswith(b"\x89PNG")
    never = get(client, unknown_url)
    assert never.status_code == 503 and never["Retry-After"]
    monkeypatch.undo()
    assert [(hit.kind, hit.document_id, hit.image) for hit, _ in spooled] == [
        ("download", document.public_id, ""), ("open", None, "img/chart.png"),
        ("download", unknown.public_id, "")]
    assert all(verdict.source == "human" for _, verdict in spooled)
    assert Download.objects.count() == 1


def test_the_document_and_download_admins(admin_client, client, document):
    get(client, make_message().download_url(document))
    page = admin_client.get("/admin/django_leadpixel/document/").content.decode()
    assert "Climate report 2026" in page
    assert re.search(r'class="field-people_downloads">1<', page)
    upload = ContentFile(b"%PDF-1.4 replaced", name="new.pdf")
    response = admin_client.post(f"/admin/django_leadpixel/document/{document.pk}/change/", {
        "title": "Climate report 2026", "slug": "climate-report-2026", "file": upload, "url": "",
        "disposition": "inline"})
    assert response.status_code == 302, response.content.decode()[:2000]
    document.refresh_from_db()
    assert document.size == len(b"%PDF-1.4 replaced") and document.file.name.endswith(".pdf")
    response = get(client, make_message().download_url(document))
    assert body(response) == b"%PDF-1.4 replaced"  # the same links, the new file
    refused = admin_client.post("/admin/django_leadpixel/document/add/", {
        "title": "Nothing", "slug": "", "url": "", "disposition": "attachment"})
    assert refused.status_code == 200 and "either a file or an external URL" in refused.content.decode()
    listing = admin_client.get("/admin/django_leadpixel/download/?source=human").content.decode()
    assert "Climate report 2026" in listing


STREAM_CHILD = r"""
import os, resource, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from django.conf import settings
settings.MEDIA_ROOT = sys.argv[1]
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from django_leadpixel.models import Document, Message
size = int(sys.argv[2])
name = "big/archive.bin"
os.makedirs(os.path.join(sys.argv[1], "big"), exist_ok=True)
with open(os.path.join(sys.argv[1], name), "wb") as handle:
    handle.truncate(size)
doc = Document(title="Archive", file=name)
doc.save()
message = Message.objects.create(recipient="big@example.com")
path = message.download_url(doc).split("https://mail.example.com", 1)[1]
client = Client()
warm = client.get(path, HTTP_RANGE="bytes=0-1023")
b"".join(warm.streaming_content)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
total = 0
for chunk in client.get(path).streaming_content:
    total += len(chunk)
ranged = 0
for chunk in client.get(path, HTTP_RANGE="bytes=1000-").streaming_content:
    ranged += len(chunk)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(total, ranged, before, after)
"""


def test_a_200_mb_file_streams_with_bounded_memory(tmp_path):
    """Peak RSS (ru_maxrss, KiB on Linux) of a process that serves a 200 MB file twice
    (whole, then a range) grows by far less than the file: it is never in memory."""
    size = 200 * 1024 * 1024
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("LEADPIXEL_TEST_DB", None)  # the child's database is its own in-memory SQLite
    result = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(tmp_path / "media"), str(size)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    total, ranged, before, after = map(int, result.stdout.split()[-4:])
    assert (total, ranged) == (size, size - 1000)
    grown_mib = (after - before) / 1024
    print(f"peak RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after streaming "
          f"400 MB: +{grown_mib:.1f} MiB")
    assert grown_mib < 32, grown_mib


def test_a_real_outage_serves_the_image_and_spools_both_hits(example_server, tmp_path, document):
    """The example project served in a child process against a database that is not there:
    the tracked image is still served (it needs no database), and both hits are spooled."""
    spool = tmp_path / "spool.jsonl"
    server = example_server(LEADPIXEL_SPOOL_FILE=str(spool), **down_database_env(tmp_path))
    message = make_message()
    image = message.image_url("demo/climate-impact.png", alt="Chart of climate change impact")
    status, headers, data = fetch(server.url + path_of(image), CHROME)
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert data == (ROOT / "example_project" / "demo" / "static" / "demo" / "climate-impact.png").read_bytes()
    status, headers, _ = fetch(server.url + path_of(message.download_url(document)), CHROME)
    assert status == 503 and headers["Retry-After"]  # this process never saw the document
    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(x["kind"], x.get("image"), x.get("document")) for x in lines] == [
        ("open", "demo/climate-impact.png", None), ("download", None, str(document.public_id))]
    call_command("leadpixel_replay", str(spool), stdout=open(os.devnull, "w"))
    assert Download.objects.get().document == document
    assert message.opens.get().image == "demo/climate-impact.png"


def test_downloads_keep_the_privacy_rules(client, document, settings):
    """Without consent a download keeps time, source and document only; ANONYMIZE_IP cuts
    the address, as for opens and clicks."""
    get(client, make_message(tracking_consent=False).download_url(document))
    settings.LEADPIXEL = {**settings.LEADPIXEL, "ANONYMIZE_IP": True}
    get(client, make_message(recipient="b@example.com").download_url(document))
    anonymous, cut = Download.objects.order_by("anonymous").reverse()
    assert (anonymous.ip, anonymous.user_agent, anonymous.anonymous, anonymous.document_id) == (
        None, "", True, document.public_id)
    assert (cut.ip, cut.anonymous) == ("81.2.69.0", False)


def test_reclassify_judges_downloads_again_from_their_requests(document):
    message = make_message()
    wrong = Download.objects.create(message=message, document_id=document.public_id, source="human",
                                    user_agent=SCANNER, ip="198.51.100.7", enriched_at=timezone.now())
    person = Download.objects.create(message=message, document_id=document.public_id, source="human",
                                     user_agent=CHROME, ip="81.2.69.160")
    totals = reclassify()
    assert totals["seen"] == 2 and totals["changed"] >= 1  # the person's row gains its reason
    wrong.refresh_from_db()
    person.refresh_from_db()
    assert wrong.source in ("scanner", "bot") and wrong.enriched_at is None
    assert person.source == "human"
    assert reclassify()["changed"] == 0
