"""A person finding the API: the root lists the endpoints, the schema has Swagger UI and
Redoc pages (static files from drf-spectacular-sidecar, no CDN), and the consent default
is one thing in the form, the schema and the database."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

from django_leadpixel.api.serializers import MessageCreateSerializer
from django_leadpixel.models import Message

from .conftest import API, user_with

PAGES = ["messages", "opens", "clicks", "downloads", "leads", "stats", "schema", "docs", "redoc"]


def test_root_lists_every_endpoint(api):
    response = api.get(API, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == PAGES
    for name, url in body.items():
        assert url.startswith("http://testserver" + API)
        accept = "text/html" if name in ("docs", "redoc") else "application/json"
        assert api.get(url, HTTP_ACCEPT=accept).status_code == 200, name


def test_root_in_a_browser(api):
    response = api.get(API, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"/api/leadpixel/docs/" in response.content


def test_root_needs_the_api_permission(anonymous, member):
    assert anonymous.get(API).status_code in (401, 403)
    assert member.get(API).status_code == 403


@pytest.mark.parametrize("permission", ["add_message", "view_download"])
def test_root_and_schema_for_a_user_of_one_endpoint(db, permission):
    client = APIClient()
    client.force_authenticate(user_with("one", permission))
    for page in ("", "schema/", "docs/"):
        assert client.get(API + page).status_code == 200, page


@pytest.mark.parametrize("page, asset", [
    ("docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
    ("redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
])
def test_schema_pages_use_local_static_files(api, page, asset):
    response = api.get(API + page)
    assert response.status_code == 200
    page_html = response.content.decode()
    assert "/static/" + asset in page_html
    assert API + "schema/" in page_html
    # Nothing from a CDN: every script and stylesheet is served by this site.
    for url in re.findall(r'(?:src|href)="([^"]+)"', page_html):
        assert not url.startswith(("http:", "https:", "//")), url
    assert finders.find(asset), "drf_spectacular_sidecar must be in INSTALLED_APPS"


def test_schema_pages_need_the_api_permission(anonymous, member):
    for page in ("docs/", "redoc/"):
        assert anonymous.get(API + page).status_code in (401, 403)
        assert member.get(API + page).status_code == 403


def test_consent_default_is_the_models_in_the_form_and_the_create(api):
    model_default = Message._meta.get_field("tracking_consent").default
    assert model_default is True
    field = MessageCreateSerializer().fields["tracking_consent"]
    assert field.initial is model_default and field.default is model_default
    # The browsable API's POST form (JSON only) pre-fills the same value.
    form = html.unescape(api.get(API + "messages/", HTTP_ACCEPT="text/html").content.decode())
    assert '"tracking_consent": true' in form
    created = api.post(API + "messages/", {"recipient": "ada@example.com", "subject": "Hi"},
                       format="json")
    assert created.status_code == 201
    assert Message.objects.get(recipient="ada@example.com").tracking_consent is model_default


def test_consent_default_in_the_schema(api):
    schema = api.get(API + "schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    consent = schema["components"]["schemas"]["MessageCreateRequest"]["properties"]["tracking_consent"]
    assert consent["default"] is True
