"""Django's model permissions by default; LEADPIXEL["API_PERMISSION_CLASSES"] changes it.

The default asks what the admin asks: view_message to read messages and the
report figures, view_open and view_click to read opens and clicks, the view permission
of every kind of event to read a message's events, add_message to
register messages and sign links. Being staff grants nothing by itself.
"""

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
from django_leadpixel.models import KINDS, Message

from .conftest import API, API_PERMISSIONS, client_for, user_with

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
    # ``api`` is a staff user holding the model permissions (tests/api/conftest.py).
    codes = call_all(api, message)
    assert codes.pop("POST messages/") == 201
    assert set(codes.values()) == {200}


def test_superuser_is_allowed_everywhere(message):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", None)
    codes = call_all(client_for(superuser), message)
    assert codes.pop("POST messages/") == 201
    assert set(codes.values()) == {200}


def test_staff_without_model_permissions_is_refused_everywhere(message):
    # The admin gives this user 403 on every page of the app; so does the API, and
    # in particular no redirect can be signed to a destination of the caller's choice.
    bare = client_for(user_with("bare", is_staff=True))
    codes = call_all(bare, message)
    assert set(codes.values()) == {403}, codes
    assert Message.objects.count() == 1


# What each permission alone opens (the schema: any of the API's permissions).
ALONE = {
    "view_message": {"messages/", "messages/{id}/", "stats/", "schema/"},
    "view_open": {"opens/", "schema/"},
    "view_click": {"clicks/", "schema/"},
    "add_message": {"POST messages/", "POST messages/{id}/links/", "schema/"},
}


@pytest.mark.parametrize("codename", sorted(ALONE))
def test_each_model_permission_opens_its_endpoints_only(message, codename):
    codes = call_all(client_for(user_with("one", codename, is_staff=True)), message)
    allowed = {path for path, code in codes.items() if code in (200, 201)}
    assert allowed == ALONE[codename], codes
    assert set(codes.values()) <= {200, 201, 403}


def test_view_message_alone_cannot_create_messages_or_sign_links(message):
    viewer = client_for(user_with("viewer", "view_message", is_staff=True))
    assert viewer.get(API + "messages/").status_code == 200
    response = viewer.post(API + f"messages/{message.public_id}/links/",
                           {"url": "https://evil.example/"}, format="json")
    assert response.status_code == 403 and "tracked_url" not in response.json()
    assert viewer.post(API + "messages/", {"recipient": "b@example.com"},
                       format="json").status_code == 403
    assert Message.objects.count() == 1


EVENT_PERMISSIONS = tuple(f"view_{kind}" for kind in KINDS)


@pytest.mark.parametrize("missing", EVENT_PERMISSIONS)
def test_a_message_s_events_need_every_event_permission(message, missing):
    # The list shows every kind: the rule of models.can_view_events, as in the admin.
    url = API + f"messages/{message.public_id}/events/"
    held = [codename for codename in EVENT_PERMISSIONS if codename != missing]
    assert client_for(user_with("some", *held)).get(url).status_code == 403
    assert client_for(user_with("every", *EVENT_PERMISSIONS)).get(url).status_code == 200


def test_change_permission_implies_view_as_in_the_admin(message):
    editor = client_for(user_with("editor", "change_message", is_staff=True))
    assert editor.get(API + "messages/").status_code == 200
    assert editor.post(API + "messages/", {"recipient": "b@example.com"},
                       format="json").status_code == 403


def test_permissions_work_without_being_staff(message):
    # An API client (a sending service) needs no admin access, only its permissions.
    sender = client_for(user_with("sender", "add_message"))
    assert sender.post(API + "messages/", {"recipient": "b@example.com"},
                       format="json").status_code == 201
    assert sender.get(API + "messages/").status_code == 403


def test_permissions_through_a_group(message):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="readers")
    group.permissions.set(Permission.objects.filter(
        content_type__app_label="django_leadpixel", codename__in=API_PERMISSIONS))
    user = user_with("grouped")
    user.groups.add(group)
    codes = call_all(client_for(get_user_model().objects.get(pk=user.pk)), message)
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


@pytest.mark.parametrize("empty", [[], ()])
def test_an_empty_permission_list_closes_the_api(anonymous, message, empty):
    # DRF would allow everything; manage.py check reports it (leadpixel.E010), and
    # a site started anyway refuses every caller rather than opening the API.
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                                      "API_PERMISSION_CLASSES": empty}):
        assert set(call_all(anonymous, message).values()) == {403}
        superuser = get_user_model().objects.create_superuser("root", "root@example.com", None)
        assert set(call_all(client_for(superuser), message).values()) == {403}
    assert Message.objects.count() == 1


@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com",
                              "API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]})
def test_allow_any_opens_the_api_on_purpose(anonymous, message):
    codes = call_all(anonymous, message)
    assert codes.pop("POST messages/") == 201
    assert set(codes.values()) == {200}


def test_basic_authentication_as_the_host_configures_it(message, host_drf):
    host_drf(authentication_classes=[BasicAuthentication])
    User = get_user_model()
    User.objects.create_superuser("ops", password="ops-pw")
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
    (["django_leadpixel.api.permissions.ModelPermissions"], None),
    (["rest_framework.permissions.NoSuchThing"], "leadpixel.E007"),
    ("rest_framework.permissions.IsAdminUser", "leadpixel.E003"),
])
def test_setting_is_checked(settings, value, error):
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "API_PERMISSION_CLASSES": value}
    ids = [e.id for e in check_settings()]
    assert ids == ([error] if error else [])
