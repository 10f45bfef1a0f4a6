"""Schemathesis: property-based requests generated from the served OpenAPI schema.

Every operation of ``api/leadpixel/schema/`` is called in-process (WSGI) as a
staff user holding the API's model permissions, with schema-valid and, in a
second pass, schema-violating input. The checks: no 5xx, documented status
codes and content types, bodies that match the documented response schemas,
and invalid input rejected (4xx). Bounded (``max_examples``) to stay well under
two minutes on SQLite and PostgreSQL.
"""

# The imports below the skip need schemathesis, which may be absent (Python 3.10).
# ruff: noqa: E402
from __future__ import annotations

import base64
import os

import pytest

# schemathesis 4 needs Python 3.11+; the test extra installs it only there.
schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (the test extra brings it on Python 3.11+)")

from django.contrib.auth.models import Permission
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from django_leadpixel.models import Message

from .conftest import API, API_PERMISSIONS, make_click, make_message, make_open

MAX_EXAMPLES = int(os.environ.get("LEADPIXEL_FUZZ_EXAMPLES", "40"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
USERNAME, PASSWORD = "fuzzer", "fuzzer-pw"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def in_process_wsgi():
    """Like Django's test client: keep the request cycle from closing the test's
    connection (and with it the transaction that holds the fixtures)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def known_message(db):
    message = make_message(campaign="autumn", metadata={"crm": 1})
    make_open(message, source="google_proxy", masked=True, operator="Google")
    make_open(message, source="human", country="FR", device_type="mobile")
    make_click(message, source="scanner")
    make_click(message, source="human", position=2)
    return message


@pytest.fixture
def api_schema(db, settings, in_process_wsgi, known_message, django_user_model):
    # A fast hasher: Basic authentication checks the password on every request.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = django_user_model.objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="django_leadpixel", codename__in=API_PERMISSIONS))
    return schemathesis.openapi.from_wsgi(API + "schema/?format=json", in_process_wsgi,
                                          headers=AUTH)


OPERATIONS = [
    ("GET", "/api/leadpixel/messages/"), ("POST", "/api/leadpixel/messages/"),
    ("GET", "/api/leadpixel/messages/{public_id}/"),
    ("POST", "/api/leadpixel/messages/{public_id}/links/"),
    ("GET", "/api/leadpixel/messages/{public_id}/events/"),
    ("GET", "/api/leadpixel/opens/"), ("GET", "/api/leadpixel/clicks/"),
    ("GET", "/api/leadpixel/downloads/"),
    ("GET", "/api/leadpixel/stats/"),
    ("GET", "/api/leadpixel/leads/"), ("GET", "/api/leadpixel/leads/{email}/"),
]


# Schemathesis's own pytest loader (schema.parametrize) does not run on pytest 9
# yet, so each operation gets a plain Hypothesis test over its case strategy.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_conforms_to_its_schema(api_schema, known_message, method, path, mode):
    operation = api_schema[path][method]

    # The credentials are fixed, not generated: this tests the API, not DRF's auth.
    @given(case=operation.as_strategy(generation_mode=mode, headers=AUTH))
    @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        # A "/" (or nothing, "." or "..") in the id leaves this API's URLs: Django's
        # own 404 page answers, which is the host's business, not this schema's.
        for name in ("public_id", "email"):
            value = (case.path_parameters or {}).get(name)
            assume(value is None or ("/" not in str(value) and str(value) not in ("", ".", "..")))
        if mode is GenerationMode.NEGATIVE:
            # ?ordering=[""] is "invalid" to the generator but on the wire it is
            # ?ordering=, the documented empty value (allowEmptyValue): skip it.
            assume(not any(isinstance(v, list) and v and all(x == "" for x in v)
                           for v in (case.query or {}).values()))
        case.call_and_validate(headers=AUTH, checks=CHECKS)
        if "public_id" in (case.path_parameters or {}) and mode is GenerationMode.POSITIVE:
            # Random ids mostly answer 404; send the same case for a real message too.
            case.path_parameters["public_id"] = str(known_message.public_id)
            case.call_and_validate(headers=AUTH, checks=CHECKS)

    check()


def test_schema_lists_every_operation(api_schema):
    operations = {(op.ok().method.upper(), op.ok().path)
                  for op in api_schema.get_all_operations()}
    assert operations == set(OPERATIONS)
    assert Message.objects.count() == 1
