"""opens/, clicks/ and messages/{id}/events/: fields, filters, ordering, keyset cursors."""

import base64
import json
import uuid
from datetime import timedelta

import pytest

from django_leadpixel.models import KINDS, Click, Document, Download, Open, Visit

from .conftest import API, T0, make_click, make_message, make_open, minutes

pytestmark = pytest.mark.django_db


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def walk(api, url: str) -> list[dict]:
    """Every row, following the 'next' links."""
    rows, pages = [], 0
    while url:
        body = api.get(url).json()
        rows += body["results"]
        url = body["next"]
        pages += 1
        assert pages < 100
    return rows


@pytest.fixture
def events(db):
    autumn = make_message(campaign="autumn", recipient="ada@example.com")
    spring = make_message(campaign="spring", recipient="tim@example.com")
    rows = {
        "human_fr": make_open(autumn, at=minutes(1), source="human", country="FR",
                              device_type="mobile", os="iOS", city="Lyon",
                              ip="198.51.100.7", user_agent="Mozilla/5.0 (iPhone)"),
        "google": make_open(autumn, at=minutes(2), source="google_proxy", masked=True,
                            operator="Google", ip="66.249.84.12",
                            user_agent="GoogleImageProxy"),
        "mpp": make_open(spring, at=minutes(3), source="apple_mpp", masked=True),
        "human_de": make_open(spring, at=minutes(4), source="human", country="DE",
                              device_type="desktop"),
        "click_human": make_click(autumn, at=minutes(5), source="human", country="FR",
                                  device_type="mobile", position=1),
        "click_scanner": make_click(autumn, at=minutes(0), source="scanner", position=2,
                                    url="https://shop.example.com/other"),
    }
    return autumn, spring, rows


def test_opens_list_fields_without_personal_data(api, events):
    autumn, spring, rows = events
    data = results(api.get(API + "opens/"))
    assert [r["id"] for r in data] == [str(rows[k].id) for k in
                                       ("human_de", "mpp", "google", "human_fr")]
    row = data[3]
    assert row == {
        "id": str(rows["human_fr"].id), "message": str(autumn.public_id),
        "occurred_at": "2024-05-01T12:01:00Z", "source": "human", "source_label": "Person",
        "reason": "", "operator": "", "masked": False, "anonymous": False, "enriched": False,
        "country": "FR", "region": "", "city": "Lyon", "device_type": "mobile", "os": "iOS",
        "browser": "", "mail_client": "", "image": "",
    }
    google = data[2]
    assert google["source_label"] == "Google Image Proxy" and google["masked"] is True
    text = json.dumps(api.get(API + "opens/").json())
    assert "66.249.84.12" not in text and "GoogleImageProxy" not in text
    assert "ip" not in row and "user_agent" not in row


def test_clicks_list_has_url_and_position(api, events):
    data = results(api.get(API + "clicks/"))
    assert [(r["source"], r["position"], r["url"]) for r in data] == [
        ("human", 1, "https://shop.example.com/offer"),
        ("scanner", 2, "https://shop.example.com/other"),
    ]


@pytest.mark.parametrize(("query", "expected"), [
    ("source=human", ["human_de", "human_fr"]),
    ("source=human&source=google_proxy", ["human_de", "google", "human_fr"]),
    ("campaign=spring", ["human_de", "mpp"]),
    ("country=fr", ["human_fr"]),
    ("country=DE", ["human_de"]),
    ("device_type=desktop", ["human_de"]),
    ("occurred_after=2024-05-01T12:02:00Z", ["human_de", "mpp", "google"]),
    ("occurred_before=2024-05-01T12:02:00Z", ["human_fr"]),
    ("occurred_after=2024-05-01T12:02:00Z&occurred_before=2024-05-01T12:04:00Z",
     ["mpp", "google"]),
    ("occurred_after=2024-05-02", []),
    ("ordering=occurred_at", ["human_fr", "google", "mpp", "human_de"]),
    ("ordering=source", ["mpp", "google", "human_fr", "human_de"]),
    ("ordering=-source", ["human_de", "human_fr", "google", "mpp"]),
    ("ordering=source,-occurred_at", ["mpp", "google", "human_de", "human_fr"]),
])
def test_open_filters_and_ordering(api, events, query, expected):
    rows = events[2]
    assert [r["id"] for r in results(api.get(f"{API}opens/?{query}"))] == [
        str(rows[k].id) for k in expected]


def test_filter_by_message(api, events):
    autumn, spring, rows = events
    data = results(api.get(f"{API}opens/?message={spring.public_id}"))
    assert {r["message"] for r in data} == {str(spring.public_id)} and len(data) == 2
    data = results(api.get(f"{API}clicks/?message={autumn.public_id}&source=scanner"))
    assert [r["id"] for r in data] == [str(rows["click_scanner"].id)]


@pytest.mark.parametrize(("query", "field", "fragment"), [
    ("source=person", "source", "valid choice"),
    ("device_type=phone", "device_type", "valid choice"),
    ("country=FRA", "country", "at most 2"),
    ("occurred_after=last-week", "occurred_after", "valid date"),
    ("message=42", "message", "valid UUID"),
    ("ordering=ip", "ordering", "valid choice"),
    ("ordering=user_agent", "ordering", "valid choice"),
    ("ordering=country", "ordering", "valid choice"),
    ("cursor=garbage", "cursor", "invalid cursor"),
    ("page_size=0", "page_size", "between 1 and 500"),
    ("page_size=1000", "page_size", "between 1 and 500"),
])
@pytest.mark.parametrize("endpoint", ["opens/", "clicks/"])
def test_bad_event_parameters_are_400(api, events, endpoint, query, field, fragment):
    response = api.get(f"{API}{endpoint}?{query}")
    assert response.status_code == 400, response.content
    assert fragment.lower() in " ".join(response.json()[field]).lower()


# ------------------------------------------------------------------------------ cursors

@pytest.fixture
def many(db):
    message = make_message()
    sources = ["human", "google_proxy", "apple_mpp", "scanner", "bot"]
    # Several events share a timestamp: the key breaks ties by id.
    Open.objects.bulk_create([
        Open(message=message, occurred_at=T0 + timedelta(seconds=i // 3),
             source=sources[i % len(sources)]) for i in range(37)])
    return message


# The full key: the ordering asked for, then occurred_at and id in the
# direction of the last field asked for.
@pytest.mark.parametrize(("ordering", "key"), [
    ("", "-occurred_at,-id"),
    ("occurred_at", "occurred_at,id"),
    ("-occurred_at", "-occurred_at,-id"),
    ("source", "source,occurred_at,id"),
    ("-source", "-source,-occurred_at,-id"),
    ("source,occurred_at", "source,occurred_at,id"),
    ("-source,-occurred_at", "-source,-occurred_at,-id"),
])
def test_cursor_walks_every_row_once_in_order(api, many, ordering, key):
    url = f"{API}opens/?page_size=5" + (f"&ordering={ordering}" if ordering else "")
    rows = walk(api, url)
    assert len(rows) == 37 and len({r["id"] for r in rows}) == 37
    assert [r["id"] for r in rows] == [str(i) for i in Open.objects.order_by(
        *key.split(",")).values_list("id", flat=True)]


def test_previous_links_walk_back(api, many):
    pages = [api.get(f"{API}opens/?page_size=4&ordering=source").json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"]).json())
    assert pages[0]["previous"] is None and len(pages) == 10
    for i in range(len(pages) - 1, 0, -1):
        back = api.get(pages[i]["previous"]).json()
        assert [r["id"] for r in back["results"]] == [r["id"] for r in pages[i - 1]["results"]]
        assert back["next"] is not None
        assert (back["previous"] is None) == (i == 1)


def test_new_rows_do_not_shift_pages(api, many):
    first = api.get(f"{API}opens/?page_size=10").json()
    seen = {r["id"] for r in first["results"]}
    # Newer events arrive while the reader pages back in time.
    make_open(many, at=T0 + timedelta(days=1))
    make_open(many, at=T0 + timedelta(days=2))
    rest = walk(api, first["next"])
    assert not seen & {r["id"] for r in rest}
    assert len(seen) + len(rest) == 37


def test_cursor_from_another_ordering_is_400(api, many):
    first = api.get(f"{API}opens/?page_size=5&ordering=source").json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    response = api.get(f"{API}opens/?cursor={cursor}&ordering=occurred_at")
    assert response.status_code == 400 and "same ordering" in response.json()["cursor"][0]


@pytest.mark.parametrize("payload", [
    {"o": "-occurred_at,-id", "d": "n", "v": ["not a date", str(uuid.uuid4())]},
    {"o": "-occurred_at,-id", "d": "n", "v": ["2024-05-01T12:00:00+00:00", "not-a-uuid"]},
    {"o": "-occurred_at,-id", "d": "x", "v": ["2024-05-01T12:00:00+00:00", str(uuid.uuid4())]},
    {"o": "-occurred_at,-id", "d": "n", "v": ["2024-05-01T12:00:00+00:00"]},
    {"o": "-occurred_at,-id", "d": "n", "v": [1, 2]},
    {"o": "-occurred_at,-id", "d": "n", "v": "x"},
    ["not", "an", "object"],
])
def test_forged_cursors_are_400(api, many, payload):
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    response = api.get(f"{API}opens/?cursor={cursor}")
    assert response.status_code == 400, response.content


def test_a_valid_forged_cursor_only_moves_the_window(api, many):
    """Cursors are not secret: a hand-made one is just another starting point."""
    at = T0 + timedelta(seconds=5)
    payload = {"o": "-occurred_at,-id", "d": "n", "v": [at.isoformat(), str(uuid.UUID(int=0))]}
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    rows = results(api.get(f"{API}opens/?cursor={cursor}&page_size=500"))
    assert rows and all(r["occurred_at"] <= "2024-05-01T12:00:05Z" for r in rows)


# ------------------------------------------------------------------------------ one message

def test_message_events_merges_opens_and_clicks(api, events):
    autumn, spring, rows = events
    data = results(api.get(f"{API}messages/{autumn.public_id}/events/"))
    assert [(r["kind"], r["id"]) for r in data] == [
        ("click", str(rows["click_human"].id)), ("open", str(rows["google"].id)),
        ("open", str(rows["human_fr"].id)), ("click", str(rows["click_scanner"].id))]
    assert data[1]["url"] is None and data[1]["position"] is None
    assert data[0]["url"] == "https://shop.example.com/offer" and data[0]["position"] == 1
    assert {r["message"] for r in data} == {str(autumn.public_id)}


def test_message_events_filters_and_paging(api, events):
    autumn = events[0]
    url = f"{API}messages/{autumn.public_id}/events/"
    data = results(api.get(url + "?source=human"))
    assert [r["kind"] for r in data] == ["click", "open"]
    data = results(api.get(url + "?ordering=occurred_at&occurred_after=2024-05-01T12:01:00Z"))
    assert [r["occurred_at"][11:16] for r in data] == ["12:01", "12:02", "12:05"]
    rows = walk(api, url + "?page_size=1&ordering=source")
    assert [r["source"] for r in rows] == ["google_proxy", "human", "human", "scanner"]
    assert api.get(url + "?source=robot").status_code == 400


@pytest.fixture
def every_kind(db):
    """A message with an event of each kind; one download's document is deleted."""
    message = make_message(campaign="autumn")
    price = Document.objects.create(title="Price list", url="https://files.example.com/p.pdf")
    gone = Document.objects.create(title="Old brochure", url="https://files.example.com/b.pdf")
    click = make_click(message, at=minutes(2), position=3)
    rows = {
        "open": make_open(message, at=minutes(1), image="img/logo.png"),
        "click": click,
        "download": Download.objects.create(message=message, occurred_at=minutes(3), source="human",
                                            document_id=price.public_id),
        "gone": Download.objects.create(message=message, occurred_at=minutes(4), source="scanner",
                                        document_id=gone.public_id),
        "visit": Visit.objects.create(message=message, occurred_at=minutes(5), source="human",
                                      path="/pricing", referrer_host="mail.example.com",
                                      click_id=click.id, ip="198.51.100.7"),
    }
    gone.delete()
    return message, price, rows


OWN_FIELDS = {"image", "url", "position", "document", "document_title", "path", "referrer_host",
              "click_id"}


def test_message_events_list_every_kind_with_its_fields(api, every_kind):
    message, price, rows = every_kind
    data = results(api.get(f"{API}messages/{message.public_id}/events/"))
    assert [(r["kind"], r["id"]) for r in data] == [
        (kind, str(rows[key].id)) for kind, key in (("visit", "visit"), ("download", "gone"),
                                                    ("download", "download"), ("click", "click"),
                                                    ("open", "open"))]
    assert {kind for kind in KINDS} == {r["kind"] for r in data}
    own = {r["id"]: {k: v for k, v in r.items() if k in OWN_FIELDS and v is not None} for r in data}
    assert own == {
        str(rows["open"].id): {"image": "img/logo.png"},
        str(rows["click"].id): {"url": "https://shop.example.com/offer", "position": 3},
        str(rows["download"].id): {"document": str(price.public_id), "document_title": "Price list"},
        # The deleted document: its id stays, its title is gone.
        str(rows["gone"].id): {"document": str(rows["gone"].document_id)},
        str(rows["visit"].id): {"path": "/pricing", "referrer_host": "mail.example.com",
                                "click_id": str(rows["click"].id)},
    }
    assert all(OWN_FIELDS <= set(r) for r in data)  # every field, null where not the kind's
    assert "198.51.100.7" not in json.dumps(data)


def test_message_events_filter_by_kind(api, every_kind):
    message, _price, rows = every_kind
    url = f"{API}messages/{message.public_id}/events/"
    assert [r["kind"] for r in results(api.get(url + "?kind=download"))] == ["download"] * 2
    assert [r["kind"] for r in results(api.get(url + "?kind=visit&kind=open&ordering=occurred_at"))] \
        == ["open", "visit"]
    assert len(results(api.get(url + "?kind="))) == 5
    response = api.get(url + "?kind=bounce")
    assert response.status_code == 400 and "kind" in response.json()
    # The other filters apply to every kind.
    humans = results(api.get(url + "?source=human&ordering=occurred_at"))
    assert [r["kind"] for r in humans] == ["open", "click", "download", "visit"]
    assert [r["id"] for r in results(api.get(url + "?kind=download&source=scanner"))] == [
        str(rows["gone"].id)]


def test_message_events_walk_every_kind_in_pages(api, every_kind):
    message = every_kind[0]
    rows = walk(api, f"{API}messages/{message.public_id}/events/?page_size=2&ordering=source")
    assert [(r["source"], r["kind"]) for r in rows] == [
        ("human", "open"), ("human", "click"), ("human", "download"), ("human", "visit"),
        ("scanner", "download")]


def test_message_events_many_rows_walk(api, many):
    Click.objects.bulk_create([
        Click(message=many, occurred_at=T0 + timedelta(seconds=i), url="https://e.com/",
              source="human") for i in range(11)])
    rows = walk(api, f"{API}messages/{many.public_id}/events/?page_size=6")
    assert len(rows) == 48 and len({r["id"] for r in rows}) == 48
    times = [r["occurred_at"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_message_events_unknown_message_is_404(api, db):
    assert api.get(f"{API}messages/{uuid.uuid4()}/events/").status_code == 404
    assert api.get(f"{API}messages/{'-' * 32}/events/").status_code == 404


@pytest.mark.parametrize("query", ["ordering=,", "ordering=source,", "ordering=,source"])
def test_empty_ordering_items_are_400(api, events, query):
    for url in (f"{API}opens/", f"{API}messages/{events[0].public_id}/events/"):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 400
        assert response.json()["ordering"] == ["Empty field name in ordering."]
    assert api.get(f"{API}messages/?{query}").status_code == 400


@pytest.mark.parametrize("param", ["source", "ordering", "cursor", "page_size", "country",
                                   "device_type", "occurred_after", "message", "campaign"])
def test_empty_parameters_mean_absent(api, events, param):
    assert len(results(api.get(f"{API}opens/?{param}="))) == 4


def test_offsets_postgresql_refuses_are_compared_in_utc(api, events):
    # Python parses offsets up to ±23:59; PostgreSQL accepts ±15:59 only.
    data = results(api.get(f"{API}opens/?occurred_after=2024-05-02T11:32:30%2B23:30"))
    assert [r["occurred_at"] for r in data] == ["2024-05-01T12:04:00Z", "2024-05-01T12:03:00Z"]
    response = api.get(f"{API}opens/?occurred_after=0001-01-01T00:00:00%2B05:00")
    assert response.status_code == 400
    assert response.json()["occurred_after"] == ["Date-time out of range."]
    assert api.get(f"{API}opens/?occurred_before=9999-12-31T23:59:59-05:00").status_code == 400
    assert api.get(f"{API}opens/?occurred_before=9999-12-31T23:59:59Z").status_code == 200
