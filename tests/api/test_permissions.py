"""Admin-only by default; LEADPIXEL["API_PERMISSION_CLASSES"] changes it."""

import base64
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from rest_framework.authentication import BasicAuthentication
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from django_leadpixel.api import views
from django_leadpixel.checks import check_settings
from django_leadpixel.models import Message

from .conftest import API

pytestmark = pytest.mark.django_db

READS = ["messages/", "messages/{id}/", "messages/{id}/events/", "opens/", "clicks/",
         "stats/", "schema/"]
WRITES = [("messages/", {"recipient": "a@example.com"}),
          ("messages/{id}/links/", {"url": "https://example.com/"})]


VIEWS = [views.OpenViewSet, views.ClickViewSet, views.MessageViewSet, views.MessageEventsView,
         views.StatsView, views.SchemaView]


@pytest.fixture
def host_drf(monkeypatch):
    """Like a host's REST_FRAMEWORK setting: DRF reads it into view classes at import
    time, so override_settings cannot change authentication or throttling; set the
    class attributes the host's settings would have set."""

    def configure(**attributes):
        for view in VIEWS:
            for name, value in attributes.items():
                monkeypatch.setattr(view, name, value)

    return configure


def call_all(client, message):
    codes = {}
    for path in READS:
        codes[path] = client.get(API + path.format(id=message.public_id)).status_code
    for path, body in WRITES:
        codes["POST " + path] = client.post(API + path.format(id=message.public_id), body,
                                            format="json").status_code
    return codes


def test_anonymous_is_refused_everywhere(anonymous, message):
    # DRF's default authentication starts with SessionAuthentication: 403.
    assert set(call_all(anonymous, message).values()) == {403}
    assert Message.objects.count() == 1


def test_anonymous_gets_401_with_basic_authentication(anonymous, message, host_drf):
    host_drf(authentication_classes=[BasicAuthentication])
    codes = call_all(anonymous, message)
    assert set(codes.values()) == {401}
    response = anonymous.get(API + "messages/")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_non_staff_is_refused_everywhere(member, message):
    assert set(call_all(member, message).values()) == {403}
    assert Message.objects.count() == 1


def test_staff_is_allowed_everywhere(api, message):
    codes = call_all(api, message)
    assert codes.pop("POST messages/") == 201
    assert set(codes.values()) == {200}


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                              "API_PERMISSION_CLASSES": [
                                  "rest_framework.permissions.IsAuthenticated"]})
def test_permission_classes_come_from_the_setting(member, anonymous, message):
    codes = call_all(member, message)
    assert codes.pop("POST messages/") == 201
    assert set(codes.values()) == {200}
    assert set(call_all(anonymous, message).values()) == {403}


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                              "API_PERMISSION_CLASSES": [
                                  "rest_framework.permissions.IsAuthenticated",
                                  "rest_framework.permissions.DjangoModelPermissions"]})
def test_several_permission_classes_all_apply(member, message):
    # DjangoModelPermissions: reading is allowed, adding needs the add permission.
    codes = call_all(member, message)
    assert codes["messages/"] == 200
    assert codes["POST messages/"] == 403


def test_basic_authentication_as_the_host_configures_it(message, host_drf):
    host_drf(authentication_classes=[BasicAuthentication])
    User = get_user_model()
    User.objects.create_user("ops", password="ops-pw", is_staff=True)
    client = APIClient()
    token = base64.b64encode(b"ops:ops-pw").decode()
    assert client.get(API + "messages/", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 200
    bad = base64.b64encode(b"ops:wrong").decode()
    assert client.get(API + "messages/", HTTP_AUTHORIZATION=f"Basic {bad}").status_code == 401


def test_throttling_uses_the_leadpixel_scope(api, message, host_drf, monkeypatch):
    host_drf(throttle_classes=[ScopedRateThrottle])
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"leadpixel": "2/minute"})
    cache.clear()
    codes = [api.get(API + "opens/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "Retry-After" in api.get(API + "opens/")
    cache.clear()


def test_scoped_throttling_without_a_leadpixel_rate_does_not_break(api, host_drf, monkeypatch):
    host_drf(throttle_classes=[ScopedRateThrottle])
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"other-app": "1/minute"})
    assert [api.get(API + "opens/").status_code for _ in range(3)] == [200, 200, 200]


def test_unknown_message_is_404_only_for_allowed_users(api, member):
    missing = API + f"messages/{uuid.uuid4()}/"
    assert api.get(missing).status_code == 404
    assert member.get(missing).status_code == 403


@pytest.mark.parametrize(("value", "error"), [
    (["rest_framework.permissions.IsAdminUser"], None),
    (["rest_framework.permissions.NoSuchThing"], "leadpixel.E007"),
    ("rest_framework.permissions.IsAdminUser", "leadpixel.E003"),
])
def test_setting_is_checked(settings, value, error):
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "API_PERMISSION_CLASSES": value}
    ids = [e.id for e in check_settings()]
    assert ids == ([error] if error else [])
