"""The API's leads: ``leads/`` (cursor-paginated, filtered) and ``leads/{email}/``.

A lead is one recipient address, lowercased, across its messages
(``reports.leads``). Both endpoints need what the messages need
(``view_message`` with the default ``ModelPermissions``); the lead's places,
devices and timeline are included only for a caller who may also view every
kind of event, as in the admin.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from ..models import KINDS, Lead, Message, can_view_events
from ..reports import leads
from .filters import DateTimeFilter, StrictOrderingMixin
from .pagination import KeysetPagination
from .views import LeadpixelAPIMixin, schema_responses


class LeadFilter(StrictOrderingMixin, django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", help_text=_("Part of the address."))
    campaign = django_filters.CharFilter(method="in_campaign",
                                         help_text=_("Leads with a message of this campaign."))
    engaged = django_filters.BooleanFilter(
        method="engaged_by_person",
        help_text=_("true: leads a person engaged with (an open, click or visit of a person); "
                    "false: the others."))
    last_seen_after = DateTimeFilter(field_name="last_seen", lookup_expr="gte",
                                     help_text=_("Last seen at or after (ISO 8601)."))
    last_seen_before = DateTimeFilter(field_name="last_seen", lookup_expr="lt",
                                      help_text=_("Last seen before (ISO 8601)."))
    ordering = django_filters.OrderingFilter(
        fields=("score", "email", "messages", "last_sent"),
        help_text=_("Sort field; prefix with '-' for descending. Default: -score."))

    class Meta:
        model = Lead
        fields = ["q", "campaign", "engaged", "last_seen_after", "last_seen_before"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset & leads.leads(search=value)

    def in_campaign(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset & leads.leads(campaign=value)

    def engaged_by_person(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset if value is None else queryset & leads.leads(engaged=value)


class LeadPagination(KeysetPagination):
    """Keyset cursor over leads: the ordering, then the address (unique) to break ties."""

    default_ordering = ("-score",)
    tiebreakers = (("email", False),)


class LeadSerializer(serializers.Serializer):
    email = serializers.CharField(help_text=_("The address, lowercased: the lead's key."))
    messages = serializers.IntegerField(help_text=_("Messages sent to the address."))
    opened = serializers.IntegerField(help_text=_("Messages opened by a person."))
    first_seen = serializers.DateTimeField(allow_null=True,
                                           help_text=_("First event of a person."))
    last_seen = serializers.DateTimeField(allow_null=True, help_text=_("Last event of a person."))
    last_sent = serializers.DateTimeField()
    score = serializers.FloatField(help_text=_("Engagement score: README \"From click to lead\"."))

    def to_representation(self, instance) -> dict[str, Any]:
        data = super().to_representation(instance)
        # One count of a person's events per kind ("opens", "clicks", "visits", ...).
        data["events"] = {f"{kind}s": getattr(instance, f"{kind}s") for kind in KINDS}
        return data


def _event_entry(entry: dict[str, Any]) -> dict[str, Any]:
    event = entry["event"]
    data: dict[str, Any] = {"kind": entry["kind"], "at": entry["at"].isoformat(),
                            "message": str(entry["message"].public_id)}
    if event is not None:
        data.update(source=event.source, reason=event.reason, masked=event.masked,
                    country=event.country, city=event.city, device_type=event.device_type)
        for name in leads.SHOWN_FIELDS.get(entry["kind"], ()):
            data[name] = getattr(event, name)
    return data


class LeadListView(LeadpixelAPIMixin, GenericAPIView):
    """Leads, by engagement score unless ``?ordering`` says otherwise."""

    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    pagination_class = LeadPagination
    permission_models = (Message,)  # for ModelPermissions: as the messages
    queryset = Lead.objects.all()

    @extend_schema(summary=_("List leads"), responses=schema_responses({200: LeadSerializer(many=True)}))
    def get(self, request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class LeadDetailView(LeadpixelAPIMixin, GenericAPIView):
    """One lead: its figures, messages, and (with the event permissions) places,
    devices and timeline, newest first."""

    serializer_class = LeadSerializer
    permission_models = (Message,)
    queryset = Lead.objects.all()

    @extend_schema(
        summary=_("One lead"),
        parameters=[OpenApiParameter("email", {"type": "string", "minLength": 1, "maxLength": 254},
                                     OpenApiParameter.PATH, description=_("The address, in any case."))],
        responses=schema_responses({200: OpenApiTypes.OBJECT}, not_found=True),
    )
    def get(self, request, email: str, *args, **kwargs) -> Response:
        if "\x00" in email or len(email) > 254:  # no address holds NUL; PostgreSQL cannot be sent it
            raise Http404
        detail = leads.lead_detail(email)
        if detail is None or detail["lead"] is None:
            raise Http404
        data = LeadSerializer(detail["lead"]).data
        data["messages_sent"] = [
            {"id": str(m.public_id), "subject": m.subject, "campaign": m.campaign,
             "sent_at": m.sent_at.isoformat()} for m in detail["messages"]]
        if can_view_events(request.user):
            data.update(places=detail["places"], devices=detail["devices"],
                        timeline=[_event_entry(entry) for entry in detail["timeline"]])
        return Response(data)
