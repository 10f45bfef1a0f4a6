"""messages/: list with filters, retrieve with the message-level truth, create, links/."""

import uuid
from datetime import timedelta

import pytest
from django.template import Context, Template

from django_leadpixel import tokens
from django_leadpixel.models import Download, Message, Visit

from .conftest import API, T0, make_click, make_message, make_open, minutes

pytestmark = pytest.mark.django_db

URL = API + "messages/"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def three(db):
    """A message opened by a person, one only by machines, one never opened."""
    person = make_message(recipient="ada@example.com", campaign="autumn", sent_at=T0)
    make_open(person, source="google_proxy", at=minutes(5))
    make_open(person, source="apple_mpp", at=minutes(1))
    make_click(person, source="scanner", at=minutes(2))
    make_click(person, source="human", at=minutes(9))
    machine = make_message(recipient="tim@example.com", campaign="autumn",
                           sent_at=T0 + timedelta(days=1))
    make_open(machine, source="apple_mpp", at=minutes(1))
    unopened = make_message(recipient="linus@example.com", campaign="spring",
                            sent_at=T0 + timedelta(days=2))
    return person, machine, unopened


# ------------------------------------------------------------------------------ list

def test_list_newest_first_with_the_message_level_truth(api, three):
    person, machine, unopened = three
    response = api.get(URL)
    assert ids(response) == [str(m.public_id) for m in (unopened, machine, person)]
    body = response.json()
    assert body["count"] == 3 and body["next"] is None
    row = body["results"][2]
    assert row["status"] == "person"
    assert row["first_open"] == "2024-05-01T12:01:00Z"
    assert row["first_human_open"] == "2024-05-01T12:05:00Z"
    assert (row["opens_total"], row["human_opens"], row["machine_opens"],
            row["google_proxy_opens"]) == (2, 1, 1, 1)
    assert (row["clicks_total"], row["human_clicks"], row["scanner_clicks"]) == (2, 1, 1)
    assert row["pixel_url"] == person.pixel_url()
    assert "pk" not in row and row["id"] == str(person.public_id)
    assert [r["status"] for r in body["results"]] == ["unopened", "machine", "person"]


def test_list_and_detail_count_downloads_and_visits(api, three):
    person, machine, _unopened = three
    for source in ("human", "human", "scanner", "bot", "apple_mpp"):
        Download.objects.create(message=person, occurred_at=minutes(3), source=source)
    for source in ("human", "scanner", "unknown"):
        Visit.objects.create(message=person, occurred_at=minutes(4), source=source, path="/")
    Visit.objects.create(message=machine, occurred_at=minutes(4), source="human", path="/")
    figures = ("downloads_total", "human_downloads", "scanner_downloads",
               "visits_total", "human_visits", "scanner_visits")
    rows = {row["id"]: row for row in api.get(URL).json()["results"]}
    detail = api.get(f"{URL}{person.public_id}/").json()
    for row in (rows[str(person.public_id)], detail):
        assert tuple(row[name] for name in figures) == (5, 2, 2, 3, 1, 1)
        # The figures that were there before keep their names and values.
        assert (row["clicks_total"], row["human_clicks"], row["scanner_clicks"]) == (2, 1, 1)
    assert tuple(rows[str(machine.public_id)][name] for name in figures) == (0, 0, 0, 1, 1, 0)


@pytest.mark.parametrize(("query", "expected"), [
    ("campaign=autumn", [1, 0]),
    ("campaign=nothing", []),
    ("recipient=tim@example.com", [1]),
    ("status=person", [0]),
    ("status=machine", [1]),
    ("status=unopened", [2]),
    ("sent_after=2024-05-02", [2, 1]),
    ("sent_before=2024-05-02T12:00:00Z", [0]),
    ("sent_after=2024-05-01T12:00:00Z&sent_before=2024-05-03", [1, 0]),
    ("ordering=sent_at", [0, 1, 2]),
    ("ordering=recipient", [0, 2, 1]),
    ("ordering=-campaign,sent_at", [2, 0, 1]),
    ("campaign=autumn&status=person", [0]),
])
def test_list_filters(api, three, query, expected):
    assert ids(api.get(f"{URL}?{query}")) == [str(three[i].public_id) for i in expected]


@pytest.mark.parametrize(("query", "field", "fragment"), [
    ("status=opened", "status", "valid choice"),
    ("sent_after=yesterday", "sent_after", "valid date"),
    ("sent_before=2024-13-01", "sent_before", "valid date"),
    ("ordering=subject", "ordering", "valid choice"),
    ("ordering=first_open", "ordering", "valid choice"),
    ("page=0", "page", "positive integer"),
    ("page=two", "page", "positive integer"),
    ("page_size=0", "page_size", "between 1 and 500"),
    ("page_size=501", "page_size", "between 1 and 500"),
    ("page_size=ten", "page_size", "between 1 and 500"),
    ("campaign=a%00b", "campaign", "Null characters"),
])
def test_bad_list_parameters_are_400_with_a_message(api, three, query, field, fragment):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert fragment.lower() in " ".join(response.json()[field]).lower()


def test_page_number_pagination(api, db):
    for i in range(7):
        make_message(sent_at=T0 + timedelta(minutes=i))
    first = api.get(URL + "?page_size=3").json()
    assert first["count"] == 7 and len(first["results"]) == 3 and first["previous"] is None
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    seen = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert len(seen) == len(set(seen)) == 7 and third["next"] is None
    assert api.get(URL + "?page=4&page_size=3").status_code == 404


def test_equal_sent_times_page_stably(api, db):
    for _ in range(5):
        make_message(sent_at=T0)
    pages = [ids(api.get(f"{URL}?page_size=2&page={n}")) for n in (1, 2, 3)]
    seen = [x for page in pages for x in page]
    assert len(seen) == len(set(seen)) == 5


# ------------------------------------------------------------------------------ retrieve

def test_retrieve_counts_by_source(api, three):
    person = three[0]
    response = api.get(f"{URL}{person.public_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(person.public_id) and body["status"] == "person"
    assert body["opens_by_source"] == {
        "human": 0, "google_proxy": 1, "yahoo_proxy": 0, "apple_mpp": 1, "other_proxy": 0,
        "scanner": 0, "bot": 0, "unknown": 0}
    assert body["clicks_by_source"]["human"] == 1 and body["clicks_by_source"]["scanner"] == 1
    assert sum(body["clicks_by_source"].values()) == 2
    assert sum(body["downloads_by_source"].values()) == sum(body["visits_by_source"].values()) == 0
    Download.objects.create(message=person, source="scanner", document_id=uuid.uuid4())
    Visit.objects.create(message=person, source="human", path="/shop/")
    body = api.get(f"{URL}{person.public_id}/").json()
    assert body["downloads_by_source"]["scanner"] == 1 and body["visits_by_source"]["human"] == 1
    assert body["pixel_html"].startswith('<img src="' + person.pixel_url().replace("&", "&amp;"))


def test_retrieve_by_database_id_or_unknown_id_is_404(api, three):
    assert api.get(f"{URL}{three[0].pk}/").status_code == 404
    assert api.get(f"{URL}{uuid.uuid4()}/").status_code == 404
    assert api.get(f"{URL}{'-' * 32}/").status_code == 404
    assert api.get(f"{URL}{str(three[0].public_id).upper()}/").status_code == 200


# ------------------------------------------------------------------------------ create

def test_create_returns_id_pixel_url_and_the_template_tags_img(api):
    response = api.post(URL, {
        "recipient": "ada@example.com", "subject": "Our autumn offer", "campaign": "autumn",
        "metadata": {"crm_id": 42, "tags": ["vip"]},
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get(public_id=body["id"])
    assert (message.recipient, message.subject, message.campaign, message.metadata) == (
        "ada@example.com", "Our autumn offer", "autumn", {"crm_id": 42, "tags": ["vip"]})
    assert message.tracking_consent is True and body["tracking_consent"] is True
    assert body["pixel_url"] == message.pixel_url()
    rendered = Template("{% load leadpixel %}{% lead_pixel m %}").render(Context({"m": message}))
    assert body["pixel_html"] == rendered
    assert body["status"] == "unopened" and body["opens_total"] == 0
    assert body["opens_by_source"]["human"] == 0
    assert tokens.read_open_token(body["pixel_url"].rsplit("/", 1)[1][:-4]) == message.public_id


def test_create_without_consent_and_with_sent_at(api):
    response = api.post(URL, {"recipient": "b@example.com", "tracking_consent": False,
                              "sent_at": "2024-05-01T10:00:00+02:00"}, format="json")
    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert message.tracking_consent is False and message.sent_at == T0 - timedelta(hours=4)
    assert response.json()["sent_at"] == "2024-05-01T08:00:00Z"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "recipient"),
    ({"recipient": "not-an-address"}, "recipient"),
    ({"recipient": "a@example.com", "metadata": [1, 2]}, "metadata"),
    ({"recipient": "a@example.com", "metadata": "text"}, "metadata"),
    ({"recipient": "a@example.com", "metadata": {"k": "a\x00b"}}, "metadata"),
    ({"recipient": "a@example.com", "subject": "x" * 999}, "subject"),
    ({"recipient": "a@example.com", "campaign": "x" * 201}, "campaign"),
    ({"recipient": "a@example.com", "sent_at": "soon"}, "sent_at"),
    ({"recipient": "a@example.com", "tracking_consent": "perhaps"}, "tracking_consent"),
    ({"recipient": "a@example.com", "subject": "a\x00b"}, "subject"),
    ({"recipient": "a@example.com", "subject": 42}, "subject"),
    ({"recipient": "a@example.com", "tracking_consent": 0}, "tracking_consent"),
    ({"recipient": "a@example.com", "tracking_consent": "true"}, "tracking_consent"),
    ({"recipient": ["a@example.com"]}, "recipient"),
    ({"recipient": "a@example.com", "sent_at": 1714557600}, "sent_at"),
    ({"recipient": "a@example.com", "subject": None}, "subject"),
])
def test_create_rejects_bad_input(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.exists()


def test_create_rejects_malformed_json_and_forms(api):
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert api.post(URL, {"recipient": "a@example.com"}).status_code == 415  # multipart


# ------------------------------------------------------------------------------ links

def test_links_signs_a_destination(api, message, client):
    response = api.post(f"{URL}{message.public_id}/links/",
                        {"url": "https://shop.example.com/offer?x=1", "position": 3},
                        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"url": "https://shop.example.com/offer?x=1", "position": 3,
                    "tracked_url": message.tracked_url("https://shop.example.com/offer?x=1", 3)}
    target = tokens.read_click_token(body["tracked_url"].rsplit("/", 1)[1])
    assert (target.message_id, target.destination, target.position) == (
        message.public_id, "https://shop.example.com/offer?x=1", 3)
    # The signed URL works through the real redirect.
    redirect = client.get("/t/c/" + body["tracked_url"].rsplit("/", 1)[1])
    assert redirect.status_code == 302
    assert redirect["Location"] == "https://shop.example.com/offer?x=1"


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "/relative/path", "//evil.example.com/x", "mailto:a@example.com",
    "ftp://files.example.com/", "https://", "http://exa mple.com/\r\nX-Injected: 1",
])
def test_links_refuses_unsafe_destinations(api, message, url):
    response = api.post(f"{URL}{message.public_id}/links/", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["url"]


@pytest.mark.parametrize("position", [-1, 65536, "first", "3", True, 2.5])
def test_links_refuses_bad_positions(api, message, position):
    response = api.post(f"{URL}{message.public_id}/links/",
                        {"url": "https://example.com/", "position": position}, format="json")
    assert response.status_code == 400 and "position" in response.json()


def test_links_of_an_unknown_message_is_404(api, db):
    response = api.post(f"{URL}{uuid.uuid4()}/links/", {"url": "https://example.com/"},
                        format="json")
    assert response.status_code == 404


def test_unsafe_destination_message_is_the_tokens_message(api, message):
    with pytest.raises(tokens.UnsafeDestination) as info:
        tokens.check_destination("javascript:alert(1)")
    response = api.post(f"{URL}{message.public_id}/links/", {"url": "javascript:alert(1)"},
                        format="json")
    assert response.json()["url"] == [str(info.value)]


def test_methods_not_offered(api, message):
    assert api.delete(f"{URL}{message.public_id}/").status_code == 405
    assert api.put(f"{URL}{message.public_id}/", {}, format="json").status_code == 405
    assert api.get(f"{URL}{message.public_id}/links/").status_code == 405


def test_sent_at_with_extreme_offsets(api):
    response = api.post(URL, {"recipient": "a@example.com",
                              "sent_at": "2024-05-02T11:00:00+23:00"}, format="json")
    assert response.status_code == 201 and response.json()["sent_at"] == "2024-05-01T12:00:00Z"
    response = api.post(URL, {"recipient": "a@example.com",
                              "sent_at": "0001-01-01T00:00:00+05:00"}, format="json")
    assert response.status_code == 400 and "sent_at" in response.json()
    assert api.get(URL + "?sent_after=2024-05-01T00:00:00%2B20:00").status_code == 200
