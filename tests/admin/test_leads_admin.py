"""The lead admin: the list (sortable, searchable, filtered), the lead page, the links to it."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_leadpixel.models import KINDS, Document, Download, Visit
from django_leadpixel.reports import leads

from .helpers import click, message, open_, sample_campaign

pytestmark = pytest.mark.django_db

LIST = "/admin/django_leadpixel/lead/"


def lead_url(email):
    return reverse("admin:django_leadpixel_lead_change", args=[quote(email)])


def test_the_list_sorts_by_score_and_searches(admin_client):
    sample_campaign()
    leads.refresh()
    page = admin_client.get(LIST).content.decode()
    for email in ("ada@example.com", "linus@example.com", "nobody@example.com"):
        assert email in page
    # ada (2 opens, 2 clicks) before linus (1 click) before grace (one proxied open).
    assert page.index("ada@example.com") < page.index("linus@example.com") < page.index("grace@example.com")
    assert "tim@example.com" in page  # machines only: listed, scored 0
    found = admin_client.get(LIST, {"q": "LINUS"}).content.decode()
    assert "linus@example.com" in found and "ada@example.com" not in found
    by_email = admin_client.get(LIST, {"o": "0"}).content.decode()  # the first column
    emails = ["ada@example.com", "grace@example.com", "linus@example.com", "tim@example.com"]
    assert sorted(emails, key=by_email.index) == emails  # by score linus comes before grace


def test_the_list_filters(admin_client):
    sample_campaign()
    leads.refresh()
    engaged = admin_client.get(LIST, {"engaged": "no"}).content.decode()
    assert "tim@example.com" in engaged and "nobody@example.com" in engaged
    assert "ada@example.com" not in engaged
    autumn = admin_client.get(LIST, {"campaign": "autumn"}).content.decode()
    assert "other@example.com" in autumn and "ada@example.com" not in autumn


def test_the_lead_page(admin_client):
    msgs = sample_campaign()
    again = message(recipient="ADA@example.com", subject="Second", campaign="autumn")
    open_(again, "google_proxy", operator="Google", country="US", city="Mountain View")
    Visit.objects.create(message=again, path="/pricing/", referrer_host="mail.google.com",
                         source="human", occurred_at=again.sent_at, country="GB", city="London",
                         device_type="desktop", os="Windows", browser="Chrome", enriched_at=again.sent_at)
    response = admin_client.get(lead_url("ada@example.com"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="lp-messages">2<' in page and 'id="lp-opened">2<' in page
    assert 'id="lp-opens">3<' in page and 'id="lp-clicks">2<' in page and 'id="lp-visits">1<' in page
    assert "London" in page and "Mountain View" not in page  # never the proxy's place
    assert "/pricing/" in page and "Second" in page
    assert reverse("admin:django_leadpixel_message_change", args=[msgs["ada"].pk]) in page
    assert admin_client.get(lead_url("missing@example.com")).status_code == 404


def test_the_lead_page_queries_do_not_grow(admin_client, django_assert_max_num_queries):
    m = message(recipient="ada@example.com")
    open_(m)
    with django_assert_max_num_queries(30) as before:
        admin_client.get(lead_url("ada@example.com"))
    for n in range(6):
        more = message(recipient="ada@example.com", subject=f"m{n}")
        open_(more)
        click(more)
    with django_assert_max_num_queries(len(before.captured_queries)):
        assert admin_client.get(lead_url("ada@example.com")).status_code == 200


def test_the_timelines_name_each_downloaded_document(admin_client, django_assert_max_num_queries):
    first = message(recipient="ada@example.com")
    report = Document.objects.create(title="Climate report 2026", url="https://cdn.example.com/r.pdf")
    gone = Document.objects.create(title="Old price list", url="https://cdn.example.com/p.pdf")
    Download.objects.create(message=first, document=report, source="human")
    Download.objects.create(message=first, document_id=gone.public_id, source="human")
    gone.delete()
    shown = '<span class="lp-document">Climate report 2026</span>'
    deleted = '<span class="lp-document">(deleted document)</span>'
    message_page = admin_client.get(
        reverse("admin:django_leadpixel_message_change", args=[first.pk])).content.decode()
    with django_assert_max_num_queries(30) as before:
        lead_page = admin_client.get(lead_url("ada@example.com")).content.decode()
    for page in (message_page, lead_page):  # one table, included by both pages
        assert page.count(shown) == 1 and page.count(deleted) == 1
        assert 'class="lp-timeline"' in page and "open (image)" not in page
    for n in range(5):
        Download.objects.create(message=message(recipient="ada@example.com", subject=f"m{n}"),
                                document=report, source="human")
    with django_assert_max_num_queries(len(before.captured_queries)):  # titles: no query each
        lead_page = admin_client.get(lead_url("ada@example.com")).content.decode()
    assert lead_page.count(shown) == 6


def test_message_and_event_pages_link_to_the_lead(admin_client):
    msgs = sample_campaign()
    link = lead_url("ada@example.com")
    assert link in admin_client.get("/admin/django_leadpixel/message/").content.decode()
    assert link in admin_client.get(
        reverse("admin:django_leadpixel_message_change", args=[msgs["ada"].pk])).content.decode()
    for kind in ("open", "click"):
        assert link in admin_client.get(f"/admin/django_leadpixel/{kind}/").content.decode()
    Visit.objects.create(message=msgs["ada"], path="/x/", source="human")
    assert link in admin_client.get("/admin/django_leadpixel/visit/").content.decode()


def test_leads_need_view_message_and_events_their_own_permissions(client):
    sample_campaign()
    leads.refresh()
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(LIST).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(LIST).status_code == 200
    page = client.get(lead_url("ada@example.com")).content.decode()
    assert "need the permissions" in page and "lp-timeline" not in page
    for kind in KINDS:
        user.user_permissions.add(Permission.objects.get(codename=f"view_{kind}"))
    client.force_login(User.objects.get(pk=user.pk))
    assert 'id="lp-timeline"' in client.get(lead_url("ada@example.com")).content.decode()
