import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from django_leadpixel.enrichment import geo
from django_leadpixel.models import Message

from . import celery_app  # noqa: F401  (makes it the default app for shared_task)

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
ON_POSTGRES = os.environ.get("LEADPIXEL_TEST_DB") == "postgres"

# Real user agents used across the tests (sources in tests/classify_corpus.csv).
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def no_bundled_geolite2(monkeypatch):
    """The suite's places come from tests/fixtures, whether or not the [geolite2] extra
    is installed (the README's demo command installs it into the same venv)."""
    monkeypatch.setattr(geo, "GEOLITE2_MODULE", "_leadpixel_tests_no_geolite2")


def make_message(**fields) -> Message:
    fields.setdefault("recipient", "reader@example.com")
    fields.setdefault("subject", "Hello")
    return Message.objects.create(**fields)


@pytest.fixture
def message(db):
    return make_message()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


class ExampleServer:
    """The example project served in a child process (tests/serve.py)."""

    def __init__(self, env: dict[str, str], tmp_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "server.log"
        full_env = {**os.environ, "LEADPIXEL_BASE_URL": self.url, "DJANGO_DEBUG": "0",
                    "DJANGO_SECRET_KEY": settings.SECRET_KEY, **env}
        full_env.pop("DJANGO_SETTINGS_MODULE", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "serve.py"), str(self.port)],
            env=full_env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(self.log.read_text()) from None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def example_server(tmp_path):
    servers = []

    def start(**env):
        server = ExampleServer(env, tmp_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
