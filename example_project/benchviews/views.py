"""Three ceilings for benchmarks/pixel.py.

- ``gif``: the same 43-byte GIF and no-cache headers as the pixel, no database
  at all (the ceiling of the web stack: gunicorn + Django + middleware).
- ``insert``: the same answer after exactly one ORM INSERT of an ``Open`` row
  for a pre-created message (the ceiling for any synchronous design that
  stores one row per request).
- ``push``: the same answer after one RPUSH of a 400-byte line to Redis on the
  thread's own connection, as buffered ingestion sends it (the ceiling for any
  design that makes one Redis round trip per request).

Neither verifies a token, reads the client IP or classifies: the gap between
these and the real endpoints is what the app itself costs.
"""

from __future__ import annotations

import threading
import uuid

from django.http import HttpResponse

from django_leadpixel.models import Message, Open
from django_leadpixel.views import NO_CACHE_HEADERS, PIXEL_GIF

# benchmarks/pixel.py creates the message with this public id before it starts the server.
BENCH_INSERT_MESSAGE = uuid.UUID("00000000-0000-4000-8000-00000000b00b")

_message_pk: int | None = None

# Redis db 13 is the benchmark's own (flushed after each run).
BENCH_PUSH_KEY = "leadpixel:bench:push"
BENCH_PUSH_LINE = b"x" * 400


def _gif() -> HttpResponse:
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    for name, value in NO_CACHE_HEADERS.items():
        response[name] = value
    return response


def gif(request):
    return _gif()


def insert(request):
    global _message_pk
    if _message_pk is None:  # once per worker process, not per request
        _message_pk = Message.objects.values_list("pk", flat=True).get(
            public_id=BENCH_INSERT_MESSAGE)
    Open.objects.create(message_id=_message_pk, source="unknown", method="GET",
                        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512])
    return _gif()


_pushers = threading.local()


def push(request):
    connection = getattr(_pushers, "connection", None)
    if connection is None:
        import redis  # only the benchmark needs it

        connection = _pushers.connection = redis.Connection(host="127.0.0.1", port=6379, db=13)
    connection.send_command("RPUSH", BENCH_PUSH_KEY, BENCH_PUSH_LINE, check_health=False)
    connection.read_response()
    return _gif()
