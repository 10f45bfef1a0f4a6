"""Pagination: page numbers for messages, keyset cursors for event lists.

Event tables grow while someone pages through them, and reach millions of rows.
An ``OFFSET`` page then both slows down with depth and shifts when new rows
arrive, so event lists use a keyset cursor: the cursor holds the sort key of the
last row shown and the next page is "rows after that key", one indexed range
scan, no ``COUNT``. Unlike DRF's ``CursorPagination`` (position on the first
ordering field plus an offset within ties), the key is the whole ordering with
``occurred_at`` and ``id`` appended, so ties on a low-cardinality field such as
``source`` cost nothing, and several querysets (a message's opens and clicks)
can be paged as one merged list.

Bad parameters answer 400 with a message, never a silent fallback.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import operator
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_CURSOR_LENGTH = 1000


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _page_size(request, param: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(param)
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise ValidationError({param: [f"Must be an integer between 1 and {maximum}."]})
    return size


def _page_size_parameter(param: str, maximum: int) -> dict:
    return {
        "name": param, "required": False, "in": "query",
        "description": f"Results per page (1 to {maximum}, default {DEFAULT_PAGE_SIZE}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum},
    }


class MessagePagination(PageNumberPagination):
    """``?page=N&page_size=M``; the total ``count`` is included."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        return _page_size(request, self.page_size_query_param, self.page_size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param) or "1"
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({self.page_query_param: ["Must be a positive integer."]})
        # A page past the end stays DRF's 404 "Invalid page.": a real "not found".
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": self.page_query_param, "required": False, "in": "query",
             "description": "Page number, from 1.", "schema": {"type": "integer", "minimum": 1}},
            _page_size_parameter(self.page_size_query_param, self.max_page_size),
        ]


class KeysetPagination(BasePagination):
    """``?cursor=...&page_size=M`` over one or several querysets sorted alike.

    The ordering is read from the (filtered) querysets' ``order_by``; the
    view's filterset validates it against an allow-list. The ``tiebreakers``
    it lacks are appended so the key is unique and pages never overlap or skip:
    for events ``occurred_at`` and ``id``, in the direction of the last field
    before them.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    default_ordering: tuple[str, ...] = ("-occurred_at",)
    # Fields appended to the ordering unless it has them, the last one unique:
    # (field, descending), or None for the direction of the field before it. Events
    # break ties in the direction of the last field asked for, so that
    # (source, occurred_at) and its reverse are both one scan of the
    # (source, occurred_at) index, with an incremental sort on id.
    tiebreakers: tuple[tuple[str, bool | None], ...] = (("occurred_at", None), ("id", None))

    # ------------------------------------------------------------ keys
    def _keys(self, queryset: QuerySet) -> list[tuple[str, bool]]:
        """[(field, descending), ...]: the ordering, then the tiebreakers it lacks."""
        ordering = [o for o in queryset.query.order_by if isinstance(o, str)] \
            or list(self.default_ordering)
        keys: list[tuple[str, bool]] = []
        for item in ordering:
            field, desc = item.lstrip("-"), item.startswith("-")
            if field not in {k for k, _ in keys}:
                keys.append((field, desc))
        for field, direction in self.tiebreakers:
            if field not in {k for k, _ in keys}:
                keys.append((field, keys[-1][1] if direction is None else direction))
        return keys

    @staticmethod
    def _ordering_label(keys: Sequence[tuple[str, bool]]) -> str:
        return ",".join(("-" if desc else "") + field for field, desc in keys)

    # ------------------------------------------------------------ cursors
    def _encode(self, keys, row, direction: str) -> str:
        values = [getattr(row, field) for field, _ in keys]
        data = {"o": self._ordering_label(keys), "d": direction,
                "v": [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values]}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, model, keys, cursor: str) -> tuple[str, list[Any]]:
        invalid = ValidationError({self.cursor_query_param: [
            "Invalid cursor: use the 'next' or 'previous' link of a previous page, "
            "with the same ordering."]})
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            data = json.loads(raw)
            direction, label, values = data["d"], data["o"], data["v"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise invalid from None
        if (direction not in ("n", "p") or label != self._ordering_label(keys)
                or not isinstance(values, list) or len(values) != len(keys)
                or not all(isinstance(v, str) for v in values)):
            raise invalid
        parsed = []
        for (field, _), value in zip(keys, values, strict=True):
            # No stored value holds NUL or a lone surrogate, and PostgreSQL cannot be
            # sent either (a DataError, then a 500): such a cursor was not made here.
            if "\x00" in value or not value.isascii() and not _encodable(value):
                raise invalid
            try:
                python = model._meta.get_field(field).to_python(value)
                if isinstance(python, datetime.datetime) and timezone.is_aware(python):
                    python = python.astimezone(datetime.timezone.utc)  # see filters.to_utc
            except (DjangoValidationError, ValueError, OverflowError):
                raise invalid from None
            if python is None:
                raise invalid
            parsed.append(python)
        return direction, parsed

    # ------------------------------------------------------------ queries
    @staticmethod
    def _after(keys, values) -> Q:
        """Rows strictly after ``values`` in the order ``keys``.

        (a, b) > (x, y) written as a > x OR (a = x AND b > y), plus the
        redundant a >= x that lets the database use an index range on a.
        """
        terms: list[Q] = []
        equal: dict[str, Any] = {}
        for (field, desc), value in zip(keys, values, strict=True):
            terms.append(Q(**equal, **{f"{field}__{'lt' if desc else 'gt'}": value}))
            equal[field] = value
        first_field, first_desc = keys[0]
        bound = Q(**{f"{first_field}__{'lte' if first_desc else 'gte'}": values[0]})
        return bound & functools.reduce(operator.or_, terms)

    @staticmethod
    def _sort(rows: list, keys) -> list:
        def compare(a, b) -> int:
            for field, desc in keys:
                x, y = getattr(a, field), getattr(b, field)
                if x != y:
                    result = -1 if x < y else 1
                    return -result if desc else result
            return 0

        return sorted(rows, key=functools.cmp_to_key(compare))

    def paginate_queryset(self, queryset, request, view=None) -> list:
        return self.paginate_querysets([queryset], request, view)

    def paginate_querysets(self, querysets: Sequence[QuerySet], request, view=None) -> list:
        self.request = request
        size = _page_size(request, self.page_size_query_param, self.page_size,
                          self.max_page_size)
        keys = self._keys(querysets[0])
        cursor = request.query_params.get(self.cursor_query_param)
        direction, values = "n", None
        if cursor:
            direction, values = self._decode(querysets[0].model, keys, cursor)
        # Going back: walk the reversed order from the cursor, then flip the page.
        walk = keys if direction == "n" else [(f, not d) for f, d in keys]
        order = [("-" if desc else "") + field for field, desc in walk]
        rows: list = []
        for queryset in querysets:
            if values is not None:
                queryset = queryset.filter(self._after(walk, values))
            rows += list(queryset.order_by(*order)[: size + 1])
        rows = self._sort(rows, walk)
        more = len(rows) > size
        rows = rows[:size]
        if direction == "p":
            rows.reverse()
        has_next = more if direction == "n" else True
        has_previous = (cursor is not None and cursor != "") if direction == "n" else more
        self.next_cursor = self._encode(keys, rows[-1], "n") if rows and has_next else None
        self.previous_cursor = self._encode(keys, rows[0], "p") if rows and has_previous else None
        return rows

    # ------------------------------------------------------------ response
    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_next_link(self) -> str | None:
        return self._link(self.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_cursor)

    def get_first_link(self) -> str:
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(),
                         "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "Opaque cursor from a previous page's 'next' or 'previous' link.",
             "schema": {"type": "string"}},
            _page_size_parameter(self.page_size_query_param, self.max_page_size),
        ]
