"""Point a benchmark at the example project on PostgreSQL (call before importing Django).

Scripts run as ``python benchmarks/<name>.py`` from the repository root, so
this folder is on ``sys.path`` and ``import benchenv`` finds this module.
"""

from __future__ import annotations

import io
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_example_project(database: str) -> None:
    """The example settings with DEBUG off, ``LEADPIXEL_DB=postgres`` and ``PGDATABASE``
    defaulting to ``database`` (the usual PG* variables say where the server is)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    os.environ.setdefault("LEADPIXEL_DB", "postgres")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("PGDATABASE", database)


def flush_redis_db(number: int) -> None:
    """Empty Redis database ``number`` on 127.0.0.1:6379 (a benchmark's own queue).

    Plain RESP over a socket: the benchmarks need no Redis client for this.
    """
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(str(number))}\r\n{number}\r\n"
                         "*1\r\n$7\r\nFLUSHDB\r\n".encode())
            sock.recv(100)
    except OSError:
        pass

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")


def environ_for(path: str, user_agent: str = CHROME) -> dict:
    """A WSGI environ for a GET of ``path``, to call Django's handler without a server."""
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.23", "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": user_agent, "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
