"""The OpenAPI schema at api/leadpixel/schema/: this API only, valid, parameters described."""

import json

import pytest
import yaml
from django.test import override_settings
from drf_spectacular.validation import validate_schema
from rest_framework.settings import api_settings

from django_leadpixel.api.serializers import MessageEventSerializer
from django_leadpixel.models import KINDS, STAT_COUNTS

from .conftest import API

pytestmark = pytest.mark.django_db

URL = API + "schema/"


def get_schema(api) -> dict:
    response = api.get(URL + "?format=json")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def test_schema_is_valid_openapi_3_of_this_api_only(api):
    schema = get_schema(api)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "django-leadpixel API"
    assert all(path.startswith("/api/leadpixel/") for path in schema["paths"])
    assert "/api/leadpixel/schema/" not in schema["paths"]
    assert not any("/admin/" in path or "/t/" in path for path in schema["paths"])


def test_schema_serves_yaml_by_default(api):
    response = api.get(URL)
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["paths"]


def test_parameters_and_responses_are_described(api):
    schema = get_schema(api)
    opens = schema["paths"]["/api/leadpixel/opens/"]["get"]
    params = {p["name"]: p for p in opens["parameters"]}
    assert set(params) == {"message", "campaign", "source", "occurred_after", "occurred_before",
                           "country", "device_type", "ordering", "cursor", "page_size"}
    assert set(params["source"]["schema"]["items"]["enum"]) == {
        "human", "google_proxy", "yahoo_proxy", "apple_mpp", "other_proxy", "scanner", "bot",
        "unknown"}
    assert set(params["ordering"]["schema"]["items"]["enum"]) == {
        "occurred_at", "-occurred_at", "source", "-source"}
    assert params["occurred_after"]["schema"]["format"] == "date-time"
    assert params["page_size"]["schema"]["maximum"] == 500
    assert all(p.get("description") for p in params.values())
    assert {"200", "400", "401", "403", "429"} <= set(opens["responses"])

    messages = {p["name"] for p in schema["paths"]["/api/leadpixel/messages/"]["get"]["parameters"]}
    assert messages == {"campaign", "recipient", "sent_after", "sent_before", "status",
                        "ordering", "page", "page_size"}
    stats = {p["name"] for p in schema["paths"]["/api/leadpixel/stats/"]["get"]["parameters"]}
    assert stats == {"campaign", "start", "end"}
    detail = schema["paths"]["/api/leadpixel/messages/{public_id}/"]["get"]
    assert detail["parameters"][0]["schema"]["format"] == "uuid"
    assert "404" in detail["responses"]


def test_response_shapes_hide_personal_data(api):
    components = get_schema(api)["components"]["schemas"]
    for name in ("Open", "Click", "MessageEvent"):
        properties = components[name]["properties"]
        assert "ip" not in properties and "user_agent" not in properties
        assert {"occurred_at", "source", "source_label", "masked", "country",
                "device_type", "message"} <= set(properties)
    assert {"url", "position"} <= set(components["Click"]["properties"])
    detail = components["MessageDetail"]["properties"]
    assert {"pixel_url", "pixel_html", "opens_by_source", "clicks_by_source", "downloads_by_source",
            "visits_by_source", "status",
            "first_human_open", "google_proxy_opens"} <= set(detail)
    assert set(components["Stats"]["properties"]) == {
        "filters", "sent", "opened_by_person", "opened_any", "clicked_by_person", "clicked_any",
        "open_rate_people", "open_rate_all", "click_rate", "click_to_open", "opens_by_source",
        "clicks_by_source", "daily", "proxy_share", "top_countries", "top_devices",
        "top_mail_clients", "links", "downloads", "opened_by_people_estimate",
        "opened_by_people_estimate_reason", "images_blocked", "images_blocked_reason",
        "images_blocked_daily", "images_blocked_by_campaign", "cohorts"}
    create = components["MessageCreateRequest"]
    assert create["required"] == ["recipient"]


def test_a_message_s_events_are_described_for_every_kind(api):
    schema = get_schema(api)
    components = schema["components"]["schemas"]
    event = components["MessageEvent"]["properties"]
    kind = components[event["kind"]["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert set(kind["enum"]) == set(KINDS)
    for kind_name, names in MessageEventSerializer.KIND_FIELDS.items():
        assert kind_name in KINDS
        assert all(event[name]["nullable"] for name in names), kind_name
    assert set(MessageEventSerializer.KIND_FIELDS) == set(KINDS)
    operation = schema["paths"]["/api/leadpixel/messages/{public_id}/events/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params["kind"]["schema"]["items"]["enum"]) == set(KINDS)
    assert {"source", "occurred_after", "country", "device_type", "ordering"} <= set(params)
    # Every figure of with_stats, in the list and the detail.
    for name in ("Message", "MessageDetail"):
        properties = components[name]["properties"]
        assert set(STAT_COUNTS) <= set(properties), name
        assert all(properties[figure]["type"] == "integer" for figure in STAT_COUNTS)


@override_settings(REST_FRAMEWORK={})
def test_schema_works_without_drf_spectacular_as_default_schema_class(api):
    assert "drf_spectacular" not in api_settings.DEFAULT_SCHEMA_CLASS.__module__
    schema = get_schema(api)
    validate_schema(schema)
    assert len(schema["paths"]) == 10  # main's 8, and leads (2)


def test_schema_needs_the_api_permission(anonymous, member):
    assert anonymous.get(URL).status_code == 403
    assert member.get(URL).status_code == 403
