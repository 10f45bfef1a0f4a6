"""Tracked images: the tag, the signed path, serving from the roots only, and the
``Open`` a load records (issue "tracked images and documents")."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import override_settings

from django_leadpixel import reports, tokens
from django_leadpixel.classify import Verdict
from django_leadpixel.ingest.hits import Hit, dumps, from_line, to_line
from django_leadpixel.jobs import enrich
from django_leadpixel.models import Message, Open, Status
from django_leadpixel.signals import open_recorded

from .conftest import CHROME, GMAIL_PROXY, make_message
from .imagefiles import png

pytestmark = pytest.mark.django_db

GEOIP = Path(__file__).parent / "fixtures" / "geoip"
CHART = png(24, 12)


@pytest.fixture
def roots(tmp_path, settings):
    """One image root with a chart in it, a secret beside it, and the settings pointing there."""
    root = tmp_path / "images"
    (root / "img").mkdir(parents=True)
    (root / "img" / "climate-impact.png").write_bytes(CHART)
    (root / "img" / "notes.txt").write_text("not an image")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret outside the roots")
    settings.LEADPIXEL = {**settings.LEADPIXEL, "IMAGE_ROOTS": [str(root)]}
    return root


def path_of(url: str) -> str:
    return url.split("https://mail.example.com", 1)[1]


def test_the_tag_renders_a_descriptive_absolute_url_with_alt_and_size(roots):
    message = make_message()
    html = Template('{% load leadpixel %}{% tracked_image m "img/climate-impact.png" '
                    'alt="Chart of climate change impact, depicting planetary damage" %}').render(
        Context({"m": message}))
    src = re.search(r'src="([^"]+)"', html)[1]
    assert re.fullmatch(r"https://mail\.example\.com/t/i/[a-z2-7]+/"
                        r"chart-of-climate-change-impact-depicting-planetary-damage\.png", src), src
    assert 'alt="Chart of climate change impact, depicting planetary damage"' in html
    assert 'width="24" height="12"' in html
    assert src == message.image_url("img/climate-impact.png",
                                    alt="Chart of climate change impact, depicting planetary damage")
    # name= wins over the alt text; without either the file's own name is used.
    assert message.image_url("img/climate-impact.png", alt="x", name="Q3 results").endswith(
        "/q3-results.png")
    assert message.image_url("img/climate-impact.png").endswith("/climate-impact.png")


def test_a_load_serves_the_bytes_with_headers_and_records_an_open_naming_the_image(client, roots):
    message = make_message()
    received = []
    open_recorded.connect(lambda **kw: received.append(kw["event"]), weak=False, dispatch_uid="img")
    try:
        response = client.get(path_of(message.image_url("img/climate-impact.png", alt="Chart")),
                              HTTP_USER_AGENT=CHROME, REMOTE_ADDR="81.2.69.160")
    finally:
        open_recorded.disconnect(dispatch_uid="img")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CHART
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(CHART))
    assert response["Cache-Control"] == "no-cache, no-store, must-revalidate, private, max-age=0"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response["ETag"])
    assert response["Last-Modified"].endswith("GMT")
    event = Open.objects.get()
    assert (event.message, event.image, event.source, event.method) == (
        message, "img/climate-impact.png", "human", "GET")
    assert received and received[0].image == "img/climate-impact.png"


def test_head_and_a_matching_etag_answer_without_the_bytes_and_are_recorded(client, roots):
    message = make_message()
    url = path_of(message.image_url("img/climate-impact.png"))
    head = client.head(url, HTTP_USER_AGENT=CHROME, REMOTE_ADDR="81.2.69.160")
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(CHART)) and head["Content-Type"] == "image/png"
    again = client.get(url, HTTP_USER_AGENT=GMAIL_PROXY, REMOTE_ADDR="66.249.84.12",
                       HTTP_IF_NONE_MATCH=head["ETag"])
    assert again.status_code == 304 and again["ETag"] == head["ETag"]
    assert sorted(Open.objects.values_list("method", "source")) == [
        ("GET", "google_proxy"), ("HEAD", "bot")]  # HEAD is a machine, as for the pixel
    # The ETag follows the bytes.
    (roots / "img" / "climate-impact.png").write_bytes(png(24, 12, (0, 0, 0)))
    os.utime(roots / "img" / "climate-impact.png", (1, 1))
    assert client.head(url)["ETag"] != head["ETag"]


@pytest.mark.parametrize("path", [
    "../secret.png", "img/../../secret.png", "/etc/passwd.png", "img//climate-impact.png",
    "img\\climate-impact.png", "C:/x.png", "img/notes.txt", "img/climate-impact.svg", "",
    "img/./climate-impact.png", "x" * 300 + ".png",
])
def test_paths_outside_the_roots_or_not_images_cannot_be_signed(path):
    with pytest.raises(tokens.BadToken):
        tokens.make_image_token(make_message().public_id, path)


def test_a_signed_bad_path_is_refused_when_served(client, roots, monkeypatch):
    """Were a bad path ever signed (rules changed, a key leaked), the endpoint still refuses it."""
    message = make_message()
    monkeypatch.setattr(tokens, "check_image_path", lambda path: path)
    token = tokens.make_image_token(message.public_id, "../secret.png")
    monkeypatch.undo()
    assert client.get(f"/t/i/{token}/secret.png").status_code == 404
    assert not Open.objects.exists()


def test_symlinks_out_of_the_roots_are_refused(client, roots, tmp_path):
    message = make_message()
    (roots / "img" / "leak.png").symlink_to(tmp_path / "secret.png")
    (roots / "linked").symlink_to(tmp_path, target_is_directory=True)
    for path in ("img/leak.png", "linked/secret.png"):
        assert client.get(path_of(message.image_url(path))).status_code == 404, path
    # A symlink that stays inside the roots is fine.
    (roots / "img" / "chart.png").symlink_to(roots / "img" / "climate-impact.png")
    assert client.get(path_of(message.image_url("img/chart.png"))).status_code == 200
    assert list(Open.objects.values_list("image", flat=True)) == ["img/chart.png"]


def test_bad_and_tampered_tokens_answer_404_and_record_nothing(client, roots):
    message = make_message()
    url = path_of(message.image_url("img/climate-impact.png"))
    token = url.split("/")[3]
    flipped = token[:-3] + ("a" if token[-3] != "a" else "b") + token[-2:]
    pixel_token = tokens.make_open_token(message.public_id)
    for bad in (flipped, pixel_token, "garbage", token.upper() + "x"):
        assert client.get(f"/t/i/{bad}/climate-impact.png").status_code == 404, bad
    # The slug and extension are decoration: another one still serves the signed image.
    assert client.get(url.rsplit("/", 1)[0] + "/anything.gif").status_code == 200
    assert client.get(path_of(message.image_url("img/missing.png"))).status_code == 404
    assert Open.objects.count() == 1


def test_a_failing_image_lookup_answers_404_not_500(client, roots, monkeypatch):
    """A storage or finder that raises while the image is looked up is logged and
    answered like a missing image: a public endpoint never answers 500."""
    from django_leadpixel.documents import images

    def broken(path):
        raise OSError("storage unreachable")

    monkeypatch.setattr(images, "find_image", broken)
    url = path_of(make_message().image_url("img/climate-impact.png"))
    assert client.get(url).status_code == 404
    assert Open.objects.count() == 0


def test_images_come_from_the_staticfiles_finders_by_default(client, tmp_path, settings):
    static = tmp_path / "static"
    (static / "mail").mkdir(parents=True)
    (static / "mail" / "offer.png").write_bytes(CHART)
    settings.STATICFILES_DIRS = [str(static)]
    message = make_message()
    response = client.get(path_of(message.image_url("mail/offer.png")))
    assert response.status_code == 200 and b"".join(response.streaming_content) == CHART
    assert client.get(path_of(message.image_url("mail/other.png"))).status_code == 404


def test_image_opens_are_classified_enriched_and_counted_once_per_message(client, roots):
    message = make_message(campaign="climate")
    for path, agent, ip in (("img/climate-impact.png", GMAIL_PROXY, "66.249.84.12"),
                            ("img/climate-impact.png", CHROME, "81.2.69.160")):
        client.get(path_of(message.image_url(path)), HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    client.get("/t/o/" + tokens.make_open_token(message.public_id) + ".gif",
               HTTP_USER_AGENT=CHROME, REMOTE_ADDR="81.2.69.160")
    with override_settings(LEADPIXEL={"GEOIP_PATH": str(GEOIP), "GEOIP_CITY": "Test-City.mmdb",
                                      "BASE_URL": "https://mail.example.com"}):
        enrich.sweep()
    person = Open.objects.get(image="img/climate-impact.png", source="human")
    assert (person.country, person.city, person.browser) == ("GB", "London", "Chrome")
    assert Open.objects.get(source="google_proxy").masked
    stats = Message.objects.with_stats().with_status().get()
    # Three opens (the Gmail proxy's is a person's too), one opened message.
    assert (stats.status, stats.opens_total, stats.human_opens) == (Status.PERSON, 3, 3)
    report = reports.campaign_report(campaign="climate")
    assert (report["sent"], report["opened_by_person"], report["opened_any"]) == (1, 1, 1)
    assert reports.opens_by_image(campaign="climate") == [
        {"image": "img/climate-impact.png", "people": 2, "all": 2}]
    kinds = [(e["kind"], e["event"].image if e["event"] else None)
             for e in reports.timeline(message)]
    assert kinds == [("sent", None), ("open", "img/climate-impact.png"),
                     ("open", "img/climate-impact.png"), ("open", "")]


def test_an_image_load_is_not_a_repeat_of_the_pixel(client, roots):
    message = make_message()
    for url in ("/t/o/" + tokens.make_open_token(message.public_id) + ".gif",
                path_of(message.image_url("img/climate-impact.png")),
                path_of(message.image_url("img/climate-impact.png"))):
        client.get(url, HTTP_USER_AGENT=CHROME, REMOTE_ADDR="81.2.69.160")
    assert sorted(Open.objects.values_list("image", "repeats")) == [
        ("", 0), ("img/climate-impact.png", 1)]


def test_without_consent_the_image_is_kept_but_not_the_reader(client, roots):
    message = make_message(tracking_consent=False)
    client.get(path_of(message.image_url("img/climate-impact.png")), HTTP_USER_AGENT=CHROME,
               REMOTE_ADDR="81.2.69.160")
    event = Open.objects.get()
    assert (event.image, event.ip, event.user_agent, event.anonymous) == (
        "img/climate-impact.png", None, "", True)


def test_the_admin_timeline_and_report_show_the_image(admin_client, client, roots):
    message = make_message(campaign="climate", sent_at=Message._meta.get_field("sent_at").default()
                           - timedelta(hours=1))
    client.get(path_of(message.image_url("img/climate-impact.png")), HTTP_USER_AGENT=CHROME,
               REMOTE_ADDR="81.2.69.160")
    page = admin_client.get(f"/admin/django_leadpixel/message/{message.pk}/change/").content.decode()
    assert '<span class="lp-image">img/climate-impact.png</span>' in page
    report = admin_client.get("/admin/django_leadpixel/message/report/").content.decode()
    assert re.search(r'id="lp-images".*<td>img/climate-impact.png</td><td>1</td><td>1</td>', report,
                     re.S)
    listing = admin_client.get("/admin/django_leadpixel/open/").content.decode()
    assert "img/climate-impact.png" in listing


def test_a_spooled_image_open_keeps_its_image(roots):
    message = make_message()
    hit = Hit(kind="open", message_id=message.public_id, image="img/climate-impact.png")
    line = dumps(to_line(hit, Verdict("human", "")))
    assert json.loads(line)["image"] == "img/climate-impact.png"
    assert from_line(line)[0].image == "img/climate-impact.png"
