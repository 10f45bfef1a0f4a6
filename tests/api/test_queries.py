"""List endpoints run a constant number of queries per page, whatever the page size.

The counts are the endpoints' own: the caller is a superuser, whose permission
check reads nothing. For any other user the default check (ModelPermissions)
reads the user's and their groups' permissions: two queries per request, counted
in ``test_the_permission_check_costs_two_queries``.
"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_leadpixel.models import KINDS, Click, Document, Download, Open, Visit

from .conftest import API, API_PERMISSIONS, T0, client_for, make_message, user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db):
    return client_for(get_user_model().objects.create_superuser("root", "root@example.com", None))


@pytest.fixture
def data(db):
    messages = [make_message(campaign="autumn", sent_at=T0 + timedelta(minutes=i))
                for i in range(60)]
    Open.objects.bulk_create([
        Open(message=m, occurred_at=T0 + timedelta(seconds=i), source="human", country="FR")
        for i, m in enumerate(messages * 2)])
    Click.objects.bulk_create([
        Click(message=m, occurred_at=T0 + timedelta(seconds=i), source="scanner",
              url="https://example.com/") for i, m in enumerate(messages)])
    for i in range(60):
        Open.objects.create(message=messages[0], occurred_at=T0 + timedelta(hours=1, seconds=i))
        Click.objects.create(message=messages[0], occurred_at=T0 + timedelta(hours=2, seconds=i),
                             url="https://example.com/")
    # Downloads of a document and of a deleted one (its title by a join, not a query
    # per row), and visits.
    document = Document.objects.create(title="Price list", url="https://files.example.com/p.pdf")
    Download.objects.bulk_create([
        Download(message=messages[0], occurred_at=T0 + timedelta(hours=3, seconds=i),
                 document_id=document.public_id if i % 2 else uuid.uuid4()) for i in range(60)])
    Visit.objects.bulk_create([
        Visit(message=messages[0], occurred_at=T0 + timedelta(hours=4, seconds=i), path=f"/p/{i}")
        for i in range(60)])
    return messages


def count(api, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


ENDPOINTS = [
    ("messages/?campaign=autumn", 3),          # count + page ids + their figures
    ("messages/?status=person", 3),
    ("opens/?source=human", 1),                # one keyset query, no count
    ("clicks/?campaign=autumn", 1),
    ("messages/{id}/events/", 1 + len(KINDS)),  # message + one per kind
    ("messages/{id}/events/?kind=download", 2),  # the other kinds: no query
    ("messages/{id}/events/?kind=download&kind=visit", 3),
]


@pytest.mark.parametrize(("path", "expected"), ENDPOINTS)
def test_queries_do_not_grow_with_page_size(api, data, path, expected, django_assert_num_queries):
    url = API + path.format(id=data[0].public_id)
    sep = "&" if "?" in url else "?"
    small = count(api, f"{url}{sep}page_size=5")
    large = count(api, f"{url}{sep}page_size=50")
    assert small == large == expected
    with django_assert_num_queries(expected):  # the next page costs the same
        next_url = api.get(f"{url}{sep}page_size=5").json()["next"]
        assert next_url
    with django_assert_num_queries(expected):
        api.get(next_url)


def test_retrieve_and_create_are_constant(api, data, django_assert_max_num_queries):
    # The message with its figures, and its events' counts by source (one query per kind).
    with django_assert_max_num_queries(1 + len(KINDS)):
        api.get(f"{API}messages/{data[0].public_id}/")
    with django_assert_max_num_queries(2):  # insert + re-read: a new message has no events
        api.post(f"{API}messages/", {"recipient": "a@example.com"}, format="json")


def test_the_permission_check_costs_two_queries(data, django_assert_num_queries):
    user = user_with("reader", *API_PERMISSIONS)
    url = f"{API}opens/?source=human"
    with django_assert_num_queries(1 + 2):  # the page + user and group permissions
        assert client_for(user).get(url).status_code == 200
