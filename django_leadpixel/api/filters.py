"""Query filters (django-filter): invalid values answer 400 with the field's message.

Date bounds take an ISO 8601 date or date-time; a date means its midnight in the
current time zone. ``*_after`` is inclusive, ``*_before`` exclusive, so
consecutive ranges never count a row twice. Ordering is an allow-list, given
as ``?ordering=field`` or ``?ordering=-field`` (descending).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import KINDS, Message, Status
from ..sources import SOURCES

if TYPE_CHECKING:
    _FilterSet = django_filters.FilterSet
else:
    _FilterSet = object

DEVICE_TYPES = (
    ("desktop", _("Desktop")),
    ("mobile", _("Mobile")),
    ("tablet", _("Tablet")),
    ("bot", _("Bot")),
)


def to_utc(value: datetime.datetime) -> datetime.datetime:
    """Python accepts UTC offsets up to ±23:59, PostgreSQL only up to ±15:59:
    compare in UTC, and call a value that leaves the calendar out of range."""
    if timezone.is_naive(value):
        return value
    try:
        return value.astimezone(datetime.timezone.utc)
    except OverflowError:
        raise forms.ValidationError(_("Date-time out of range."), code="overflow") from None


class _DateTimeField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        return to_utc(value) if value is not None else None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _DateTimeField


class _ChoicesField(django_filters.fields.MultipleChoiceField):
    def clean(self, value):
        # ?source= (empty) means "no filter", as for every other parameter.
        return super().clean([v for v in value or () if v != ""])


class MultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    field_class = _ChoicesField

    def __init__(self, *args, **kwargs):
        # django-filter adds SELECT DISTINCT by default (for multi-valued
        # relations); on a plain column it only forces a full sort of the table.
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class StrictOrderingMixin(_FilterSet):
    """``?ordering=,`` or ``?ordering=source,`` is a mistake: say so rather than
    ignore the empty items as django-filter does."""

    def is_valid(self) -> bool:
        # FilterSet stores ``data or QueryDict()``: never None (the stub allows None).
        raw = self.data.get("ordering")  # type: ignore[union-attr]
        if raw and any(not part.strip() for part in raw.split(",")):
            self.form.add_error("ordering", _("Empty field name in ordering."))
        return super().is_valid()


class MessageFilter(StrictOrderingMixin, django_filters.FilterSet):
    campaign = django_filters.CharFilter(help_text=_("Exact campaign name."))
    recipient = django_filters.CharFilter(help_text=_("Exact recipient address."))
    sent_after = DateTimeFilter(
        field_name="sent_at", lookup_expr="gte",
        help_text=_("Sent at or after this date or date-time (ISO 8601)."))
    sent_before = DateTimeFilter(
        field_name="sent_at", lookup_expr="lt",
        help_text=_("Sent before this date or date-time (ISO 8601)."))
    # Filters on the ``status`` annotation of ``MessageQuerySet.with_status``.
    status = django_filters.ChoiceFilter(
        choices=Status.choices,
        help_text=_("person: opened or clicked by a person; machine: only machines "
                    "(Apple prefetch, scanners, bots); unopened: no event at all."))
    ordering = django_filters.OrderingFilter(
        fields=("sent_at", "recipient", "campaign"),
        help_text=_("Sort field; prefix with '-' for descending. Default: -sent_at."))

    class Meta:
        model = Message
        fields = ["campaign", "recipient", "sent_after", "sent_before", "status"]


class BaseEventFilter(StrictOrderingMixin, django_filters.FilterSet):
    """Filters of events of any kind; no ``Meta.model``: it serves every kind."""

    source = MultipleChoiceFilter(
        choices=SOURCES,
        help_text=_("Classification; repeat the parameter for several (?source=human"
                    "&source=google_proxy)."))
    occurred_after = DateTimeFilter(
        field_name="occurred_at", lookup_expr="gte",
        help_text=_("At or after this date or date-time (ISO 8601)."))
    occurred_before = DateTimeFilter(
        field_name="occurred_at", lookup_expr="lt",
        help_text=_("Before this date or date-time (ISO 8601)."))
    country = django_filters.CharFilter(
        method="filter_country", max_length=2,
        help_text=_("ISO 3166-1 alpha-2 country code (case-insensitive)."))
    device_type = django_filters.ChoiceFilter(
        choices=DEVICE_TYPES, help_text=_("Device type of people's events."))
    ordering = django_filters.OrderingFilter(
        fields=("occurred_at", "source"),
        help_text=_("Sort field; prefix with '-' for descending. Default: -occurred_at."))

    def filter_country(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(country=value.upper())


class MessageEventFilter(BaseEventFilter):
    """Filters of one message's events: each kind's events are filtered alike, and
    ``kind`` keeps only the kinds asked for."""

    kind = MultipleChoiceFilter(
        choices=[(kind, kind) for kind in KINDS], method="filter_kind",
        help_text=_("Kind of event; repeat the parameter for several (?kind=download"
                    "&kind=visit)."))

    def filter_kind(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        # Each kind's model is named after it (``KINDS``).
        return queryset if queryset.model._meta.model_name in value else queryset.none()


class EventFilter(BaseEventFilter):
    """Filters of the opens, clicks and downloads lists (all messages)."""

    message = django_filters.UUIDFilter(
        field_name="message__public_id", help_text=_("The message's public id."))
    campaign = django_filters.CharFilter(
        field_name="message__campaign", help_text=_("Exact campaign name of the message."))


class DownloadFilter(EventFilter):
    """Filters of the downloads list."""

    document = django_filters.UUIDFilter(
        field_name="document_id", help_text=_("The document's public id."))
