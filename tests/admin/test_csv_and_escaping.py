import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from django_leadpixel.models import KINDS, Document, Download, Visit
from django_leadpixel.reports.export import neutralise

from .helpers import click, message, open_, sample_campaign

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
FIGURES = reverse("admin:django_leadpixel_message_report_csv")
EVENTS = reverse("admin:django_leadpixel_message_events_csv")


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+31 20", "'+31 20"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), ("", ""),
    (3, 3), (-2, -2), (0.25, 0.25), (None, ""), (True, True),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_figures_csv(admin_client):
    sample_campaign()
    rows = read_csv(admin_client.get(FIGURES, {"campaign": "spring", "start": ""}))
    assert rows[0] == ["section", "key", "value"]
    assert ["filter", "campaign", "spring"] in rows
    assert ["summary", "sent", "5"] in rows
    assert ["summary", "open_rate_people", "0.6"] in rows
    assert ["opens_by_source", "Google Image Proxy", "1"] in rows
    assert any(r[0] == "daily_opens" for r in rows)
    assert ["top_countries", "GB", "4"] in rows


def test_csv_neutralises_formulas_from_user_data(admin_client):
    evil = message(recipient="x@example.com", campaign="=HYPERLINK(\"http://evil\")",
                   subject="@SUM(1)")
    click(evil, url="https://example.com/-x", reason="+cmd|' /C calc'!A0")
    response = admin_client.get(FIGURES, {"campaign": evil.campaign, "start": ""})
    assert '"' not in response["Content-Disposition"].split("filename=")[1].strip('"')
    rows = read_csv(response)
    assert ["filter", "campaign", "'=HYPERLINK(\"http://evil\")"] in rows
    events = read_csv(admin_client.get(EVENTS, {"campaign": evil.campaign, "start": ""}))
    header, row = events[0], events[1]
    assert row[header.index("campaign")] == "'=HYPERLINK(\"http://evil\")"
    assert row[header.index("reason")] == "'+cmd|' /C calc'!A0"
    assert "user_agent" not in header and "ip" not in header
    for cell in (c for r in events[1:] for c in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_events_csv_has_every_event(admin_client):
    sample_campaign()
    rows = read_csv(admin_client.get(EVENTS, {"start": ""}))
    assert len(rows) == 1 + 5 + 4  # header, opens, clicks


def test_events_csv_has_every_kind_with_its_columns(admin_client):
    ada = message(recipient="ada@example.com")
    price = Document.objects.create(title="=Price list", url="https://files.example.com/p.pdf")
    gone = Document.objects.create(title="Old brochure", url="https://files.example.com/b.pdf")
    open_(ada, image="img/logo.png")
    link = click(ada, position=2)
    at = ada.sent_at + timedelta(minutes=10)
    Download.objects.create(message=ada, source="human", occurred_at=at, document_id=price.public_id)
    Download.objects.create(message=ada, source="scanner", occurred_at=at, document_id=gone.public_id)
    Visit.objects.create(message=ada, source="human", occurred_at=at, path="/pricing",
                         referrer_host="mail.example.com", click_id=link.id, ip="198.51.100.7")
    gone.delete()
    rows = read_csv(admin_client.get(EVENTS, {"start": ""}))
    header = rows[0]
    # The columns that were there keep their places; each kind's own ones follow.
    assert header[:18] == ["kind", "occurred_at", "message", "recipient", "campaign", "source",
                           "reason", "operator", "masked", "country", "region", "city",
                           "device_type", "os", "browser", "mail_client", "url", "position"]
    own = ("image", "url", "position", "document", "document_title", "path", "referrer_host",
           "click_id")
    by_kind = sorted(((row[0], {name: row[header.index(name)] for name in own
                                if row[header.index(name)]}) for row in rows[1:]), key=str)
    assert by_kind == sorted([
        ("open", {"image": "img/logo.png"}),
        ("click", {"url": "https://shop.example.com/a", "position": "2"}),
        ("download", {"document": str(price.public_id), "document_title": "'=Price list"}),
        ("download", {"document": str(gone.public_id)}),  # deleted: no title
        ("visit", {"path": "/pricing", "referrer_host": "mail.example.com",
                   "click_id": str(link.id)}),
    ], key=str)
    assert {row[0] for row in rows[1:]} == set(KINDS)
    assert all(row[header.index("recipient")] == "ada@example.com" for row in rows[1:])
    assert "198.51.100.7" not in str(rows)


def test_hostile_text_is_escaped_everywhere(admin_client):
    msg = message(recipient="evil@example.com", subject=XSS, campaign=XSS)
    open_(msg, user_agent=XSS, reason=XSS, country="GB", city=XSS, device_type="desktop",
          os=XSS, browser=XSS)
    click(msg, url=f"https://example.com/?q={XSS}", user_agent=XSS, reason=XSS,
          mail_client=XSS)
    open_(msg, "google_proxy", operator=XSS, reason=XSS)
    opened = msg.opens.first()
    urls = [
        reverse("admin:django_leadpixel_message_changelist"),
        reverse("admin:django_leadpixel_message_change", args=[msg.pk]),
        reverse("admin:django_leadpixel_open_changelist"),
        reverse("admin:django_leadpixel_click_changelist"),
        reverse("admin:django_leadpixel_open_change", args=[opened.pk]),
        reverse("admin:django_leadpixel_message_report") + "?start=",
        reverse("admin:django_leadpixel_message_report") + "?start=&" + urlencode(
            {"campaign": XSS}),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert XSS not in html, url
        assert "<script>alert" not in html, url
    response = admin_client.get(urls[-1])
    assert response.context["report"]["sent"] == 1  # the hostile campaign was selected
    report = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report  # shown, as text
    assert "?q=&lt;script&gt;" in report  # the link URL, in the per-link table
