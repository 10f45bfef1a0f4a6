"""What pyproject.toml promises a new user: extras that install and work on every claimed Python."""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parent.parent


def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def extra(name: str) -> list[Requirement]:
    return [Requirement(line) for line in project()["optional-dependencies"][name]]


def claimed_pythons() -> list[str]:
    floor = project()["requires-python"].removeprefix(">=")
    major, minor = (int(part) for part in floor.split(".")[:2])
    return [f"{major}.{m}" for m in range(minor, 15)]


@pytest.mark.parametrize("python", claimed_pythons())
def test_schemathesis_is_asked_for_only_where_it_installs(python):
    # Every schemathesis 4 release needs Python 3.11+: on 3.10 the test extra must not ask for it.
    (fuzzer,) = [r for r in extra("test") if r.name == "schemathesis"]
    wanted = fuzzer.marker is None or fuzzer.marker.evaluate({"python_version": python})
    assert wanted == (tuple(map(int, python.split("."))) >= (3, 11))


def test_the_floor_of_django_ipware_is_the_one_the_tests_pass_with():
    # django-ipware 6 reads some peers differently (tests/test_request.py fails with it).
    (ipware,) = [Requirement(r) for r in project()["dependencies"] if r.startswith("django-ipware")]
    assert not ipware.specifier.contains("6.0.0") and ipware.specifier.contains("7.0.0")


def test_the_redis_extra_brings_what_celery_redis_brings():
    requirements = extra("redis")
    assert any(r.name == "celery" and "redis" in r.extras for r in requirements)
    assert any(r.name == "redis" for r in requirements)  # the buffered ingestion's client


def test_kombus_redis_transport_requirements_are_installed():
    # What a worker on a Redis broker imports (packaging, once missing, among them).
    try:
        lines = requires("kombu") or []
    except PackageNotFoundError:
        pytest.skip("kombu is not installed")
    names = [Requirement(line).name for line in lines
             if Requirement(line).marker and Requirement(line).marker.evaluate({"extra": "redis"})
             and not Requirement(line).marker.evaluate({"extra": ""})]
    assert "redis" in names
    missing = [name for name in names if importlib.util.find_spec(name.replace("-", "_")) is None]
    assert not missing

