import pytest
from django.test import override_settings

from django_leadpixel.checks import check_settings


def ids(**leadpixel):
    with override_settings(LEADPIXEL=leadpixel):
        return [(m.id, m.msg) for m in check_settings()]


def test_valid_settings_pass():
    assert ids(BASE_URL="https://mail.example.com", RETENTION_DAYS=30, ANONYMIZE_IP=True) == []


def test_missing_base_url():
    [(code, msg)] = ids()
    assert code == "leadpixel.E005" and "BASE_URL" in msg


@pytest.mark.parametrize("url", ["mail.example.com", "/t/", "ftp://x.example", "https://x.example/?a=1"])
def test_non_absolute_base_url(url):
    assert [c for c, _ in ids(BASE_URL=url)] == ["leadpixel.E005"]


def test_unknown_key_names_it_and_suggests_the_right_one():
    with override_settings(LEADPIXEL={"BASE_URL": "https://m.example", "ANONYMISE_IP": True}):
        [error] = check_settings()
    assert error.id == "leadpixel.E002" and "ANONYMISE_IP" in error.msg
    assert "ANONYMIZE_IP" in error.hint


@pytest.mark.parametrize("key,value", [
    ("ANONYMIZE_IP", "yes"), ("RETENTION_DAYS", "30"), ("RETENTION_DAYS", True),
    ("USER_AGENT_MAX_LENGTH", 1.5), ("BASE_URL", 42), ("IP_TRUSTED_PROXIES", "10.0.0.1"),
])
def test_wrong_types(key, value):
    codes = [c for c, _ in ids(**{"BASE_URL": "https://m.example", key: value})]
    assert codes == ["leadpixel.E003"]


def test_non_positive_numbers():
    assert [c for c, _ in ids(BASE_URL="https://m.example", RETENTION_DAYS=0)] == ["leadpixel.E004"]


def test_setting_not_a_dict():
    with override_settings(LEADPIXEL=["BASE_URL"]):
        assert [m.id for m in check_settings()] == ["leadpixel.E001"]


def test_unimportable_request_info_function():
    codes = [c for c, _ in ids(BASE_URL="https://m.example", REQUEST_INFO_FUNCTION="no.such.func")]
    assert codes == ["leadpixel.E006"]


def test_plain_http_base_url_warns_outside_debug():
    assert [c for c, _ in ids(BASE_URL="http://m.example")] == ["leadpixel.W002"]


def test_settings_object_follows_override_settings():
    from django_leadpixel.conf import app_settings

    with override_settings(LEADPIXEL={"BASE_URL": "https://a.example", "RETENTION_DAYS": 9}):
        assert app_settings.RETENTION_DAYS == 9
    assert app_settings.RETENTION_DAYS is None
    with pytest.raises(AttributeError):
        app_settings.NOPE  # noqa: B018


def test_ingest_takes_a_backend_class_of_the_project(settings):
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com",
                          "INGEST": "django_leadpixel.ingest.direct.DirectBackend"}
    assert not [e for e in check_settings(None) if e.id == "leadpixel.E008"]
    settings.LEADPIXEL = {"BASE_URL": "https://mail.example.com", "INGEST": "no.such.Backend"}
    assert [e.id for e in check_settings(None) if e.id == "leadpixel.E008"] == ["leadpixel.E008"]


@pytest.mark.parametrize("empty", [[], ()])
def test_an_empty_api_permission_list_is_an_error(empty):
    # DRF allows every request when a view has no permission class: an empty list
    # would open the API to anonymous callers.
    [(code, msg)] = ids(BASE_URL="https://m.example", API_PERMISSION_CLASSES=empty)
    assert code == "leadpixel.E010" and "API_PERMISSION_CLASSES" in msg
    with override_settings(LEADPIXEL={"BASE_URL": "https://m.example",
                                      "API_PERMISSION_CLASSES": empty}):
        [error] = check_settings()
    assert "rest_framework.permissions.AllowAny" in error.hint


def test_an_open_api_is_spelled_allow_any():
    assert ids(BASE_URL="https://m.example",
               API_PERMISSION_CLASSES=["rest_framework.permissions.AllowAny"]) == []
