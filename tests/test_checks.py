import pytest
from django.core.checks import WARNING
from django.test import override_settings

from django_leadpixel.checks import (
    VISIT_MIDDLEWARE,
    check_request_budget,
    check_settings,
    check_visits,
    connect_timeout_warnings,
)


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


# --- the request path's database budget -------------------------------------------------------

POSTGRES = {"ENGINE": "django.db.backends.postgresql", "NAME": "leadpixel"}


def test_postgresql_without_a_connect_timeout_warns():
    databases = {"default": POSTGRES, "replica": {**POSTGRES, "OPTIONS": {"connect_timeout": 2}},
                 "local": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    [warning] = connect_timeout_warnings(databases, {})
    assert warning.id == "leadpixel.W003" and warning.level == WARNING
    assert "'default'" in warning.msg and "connect_timeout" in warning.hint


def test_a_connect_timeout_in_options_or_the_environment_is_enough():
    assert connect_timeout_warnings({"default": {**POSTGRES, "OPTIONS": {"connect_timeout": 3}}}, {}) == []
    assert connect_timeout_warnings({"default": POSTGRES}, {"PGCONNECT_TIMEOUT": "3"}) == []


def test_the_registered_check_reads_the_projects_databases():
    from django.conf import settings
    from django.core.checks import run_checks

    found = [m.id for m in run_checks()]  # what manage.py check runs
    postgres = any("postgresql" in db["ENGINE"] for db in settings.DATABASES.values())
    assert ("leadpixel.W003" in found) == postgres  # the test settings set no connect_timeout


@pytest.mark.parametrize("value", ["1.5", True, [1]])
def test_request_db_timeout_must_be_a_number(value):
    assert [c for c, _ in ids(BASE_URL="https://m.example", REQUEST_DB_TIMEOUT=value)] == ["leadpixel.E003"]


def budget_ids(**leadpixel):
    with override_settings(LEADPIXEL={"BASE_URL": "https://m.example", **leadpixel}):
        return [m.id for m in check_request_budget() if m.id != "leadpixel.W003"]


@pytest.mark.parametrize("value", [0, -1, 0.0])
def test_request_db_timeout_must_be_positive(value):
    assert budget_ids(REQUEST_DB_TIMEOUT=value) == ["leadpixel.E004"]


@pytest.mark.parametrize("value", [0.25, 2, None])
def test_request_db_timeout_accepts_seconds_or_none(value):
    assert ids(BASE_URL="https://m.example", REQUEST_DB_TIMEOUT=value) == []
    assert budget_ids(REQUEST_DB_TIMEOUT=value) == []


def test_visit_hosts_without_the_middleware_is_noted(settings):
    settings.LEADPIXEL = {**settings.LEADPIXEL, "VISIT_HOSTS": ["shop.example.com"]}
    assert VISIT_MIDDLEWARE in settings.MIDDLEWARE and check_visits() == []
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != VISIT_MIDDLEWARE]
    [note] = check_visits()
    assert note.id == "leadpixel.I002" and "beacon" in note.msg
    settings.LEADPIXEL = {**settings.LEADPIXEL, "VISIT_HOSTS": []}
    assert check_visits() == []
