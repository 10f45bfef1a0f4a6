"""REST API views: read events and stats, register messages from any sender.

Every view takes its permissions from ``LEADPIXEL["API_PERMISSION_CLASSES"]``
(Django's model permissions by default: ``permissions.ModelPermissions``, applied
to the models each view names), its authentication from the host project's DRF
settings, and its throttle rate from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
["leadpixel"]`` when the host enables ``ScopedRateThrottle``. Filter backends,
pagination and the OpenAPI schema class are set here, so the host's DRF
defaults for those do not change the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db.models import Count, F, QuerySet, Value
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .. import __version__, reports
from ..models import KIND_FIELDS, KINDS, Click, Download, EventModel, Message, Open
from . import filters, serializers
from .pagination import KeysetPagination, MessagePagination
from .permissions import LeadpixelPermissionsMixin

if TYPE_CHECKING:
    from rest_framework.filters import BaseFilterBackend
    from rest_framework.generics import BaseFilterProtocol
    from rest_framework.schemas.inspectors import ViewInspector

    _APIView = APIView
else:
    _APIView = object

# Event columns the API shows; the raw IP and user agent are never loaded.
EVENT_FIELDS = ("id", "message_id", "occurred_at", "source", "reason", "operator", "masked",
                "anonymous", "enriched_at", "country", "region", "city", "device_type", "os",
                "browser", "mail_client")
CLICK_FIELDS = (*EVENT_FIELDS, "url", "position")
# Each kind's own columns, beside the shared ones: the fields its hits carry.
KIND_COLUMNS = {model: KIND_FIELDS[kind] for kind, model in KINDS.items()}
# What a message's event list shows besides a kind's columns: a download's document
# title, by a join (null once the document is deleted), never a query per row.
KIND_EXTRAS: dict[EventModel, dict[str, Any]] = {Download: {"document_title": F("document__title")}}

_VALIDATION_ERROR = OpenApiResponse(
    response={"type": "object", "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}},
    description=_("Invalid parameters or body: each offending field mapped to its messages, "
                  "or {\"detail\": \"...\"}."),
)
_DENIED = {
    401: OpenApiResponse(serializers.ErrorSerializer, description=_("Not authenticated.")),
    403: OpenApiResponse(serializers.ErrorSerializer, description=_("Not allowed.")),
}
_NOT_FOUND = {404: OpenApiResponse(serializers.ErrorSerializer, description=_("Not found."))}
_THROTTLED = {429: OpenApiResponse(serializers.ErrorSerializer, description=_("Throttled."))}


def _responses(ok: dict, *, not_found: bool = False) -> dict:
    return {**ok, 400: _VALIDATION_ERROR, **_DENIED, **(_NOT_FOUND if not_found else {}),
            **_THROTTLED}


# The public name other API modules use (``api.leads``).
schema_responses = _responses


class LeadpixelAPIMixin(LeadpixelPermissionsMixin, _APIView):
    # drf-spectacular, whatever the host's DEFAULT_SCHEMA_CLASS
    schema: ViewInspector | None = AutoSchema()
    throttle_scope = "leadpixel"
    filter_backends: Sequence[type[BaseFilterBackend | BaseFilterProtocol[Any]]] = [DjangoFilterBackend]

    def get_throttles(self) -> list:
        # A host that uses ScopedRateThrottle for its own views but sets no
        # "leadpixel" rate would get ImproperlyConfigured (a 500) from DRF here;
        # without a rate for our scope, the scoped throttle simply does not apply.
        return [
            throttle for throttle in super().get_throttles()
            if not isinstance(throttle, ScopedRateThrottle)
            or self.throttle_scope in throttle.THROTTLE_RATES
        ]


def _events(model, message: Message | None = None) -> QuerySet:
    fields = (*EVENT_FIELDS, *KIND_COLUMNS.get(model, ()))
    events = model.objects.only(*fields).annotate(message_public_id=F("message__public_id"))
    if message is not None:
        events = events.filter(message=message)
    return events


PUBLIC_ID = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                             description=_("The message's public id."))


def _event_list_schema(serializer, kind: str):
    return extend_schema(
        summary=_("List %(kind)s") % {"kind": kind},
        description=_("Newest first unless ?ordering says otherwise; cursor-paginated. "
                      "No IP address or user agent is ever included."),
        responses=_responses({200: serializer(many=True)}),
    )


@extend_schema_view(list=_event_list_schema(serializers.OpenSerializer, "opens"))
class OpenViewSet(LeadpixelAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Opens of every message (the pixel was loaded), filterable."""

    serializer_class: type[serializers.EventSerializer] = serializers.OpenSerializer
    filterset_class = filters.EventFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return _events(Open)


@extend_schema_view(list=_event_list_schema(serializers.ClickSerializer, "clicks"))
class ClickViewSet(OpenViewSet):
    """Clicks of every message (a tracked link was followed), filterable."""

    serializer_class = serializers.ClickSerializer

    def get_queryset(self) -> QuerySet:
        return _events(Click)


@extend_schema_view(list=_event_list_schema(serializers.DownloadSerializer, "downloads"))
class DownloadViewSet(OpenViewSet):
    """Downloads of tracked documents (the first byte range of each), filterable."""

    serializer_class = serializers.DownloadSerializer
    filterset_class = filters.DownloadFilter

    def get_queryset(self) -> QuerySet:
        return _events(Download)


def source_counts(model, message: Message) -> dict[str, int]:
    rows = model.objects.filter(message=message).order_by().values("source") \
        .annotate(n=Count("pk"))
    return serializers.source_counts(rows)


@extend_schema_view(
    list=extend_schema(summary=_("List messages"), responses=_responses(
        {200: serializers.MessageSerializer(many=True)}, not_found=True)),
    retrieve=extend_schema(summary=_("Retrieve a message"), parameters=[PUBLIC_ID],
                           responses=_responses(
        {200: serializers.MessageDetailSerializer}, not_found=True)),
    create=extend_schema(
        summary=_("Register a message"),
        description=_("Register one email to one recipient before sending it; the response "
                      "has the pixel URL and the ready <img> to put in its HTML body."),
        request=serializers.MessageCreateSerializer,
        responses=_responses({201: serializers.MessageDetailSerializer}),
        examples=[OpenApiExample("message", request_only=True, value={
            "recipient": "ada@example.com", "subject": "Our autumn offer",
            "campaign": "autumn", "metadata": {"crm_id": 42}, "tracking_consent": True})],
    ),
)
class MessageViewSet(LeadpixelAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Messages with the message-level truth: who opened and clicked, people or machines."""

    lookup_field = "public_id"
    # Any segment reaches the view, so a malformed id is this API's JSON 404
    # rather than the site's HTML one.
    lookup_value_regex = "[^/]+"
    filterset_class = filters.MessageFilter
    pagination_class = MessagePagination
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet:
        if self.action == "links":
            return Message.objects.all()
        # "-pk" breaks ties so page boundaries are stable.
        return Message.objects.with_stats().with_status().order_by("-sent_at", "-pk")

    def get_serializer_class(self):
        return {
            "retrieve": serializers.MessageDetailSerializer,
            "create": serializers.MessageCreateSerializer,
            "links": serializers.LinkSerializer,
        }.get(self.action, serializers.MessageSerializer)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.action != "list":  # the filters belong to the list
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs) -> Response:
        # Page the ids first, then compute the figures for that page only:
        # PostgreSQL evaluates the SELECT list of the rows an OFFSET skips, so
        # page 200 would otherwise compute ten thousand messages' figures.
        ids = self.paginate_queryset(
            self.filter_queryset(self.get_queryset()).values_list("pk", flat=True))
        assert ids is not None  # pagination_class is set
        rows = Message.objects.with_stats().with_status().in_bulk(ids)
        page = [rows[pk] for pk in ids if pk in rows]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs) -> Response:
        return Response(self._detail(self.get_object()))

    def create(self, request, *args, **kwargs) -> Response:
        serializer = serializers.MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = serializer.save()
        return Response(self._detail(self.get_queryset().get(pk=message.pk), new=True),
                        status=status.HTTP_201_CREATED)

    def _detail(self, message: Message, *, new: bool = False) -> dict:
        # Extra attributes that MessageDetailSerializer reads: opens_by_source, ...
        # (a message created just now has no events to count).
        for kind, model in KINDS.items():
            setattr(message, f"{kind}s_by_source",
                    serializers.source_counts(()) if new else source_counts(model, message))
        return serializers.MessageDetailSerializer(
            message, context=self.get_serializer_context()).data

    @extend_schema(
        summary=_("Sign a tracked link"),
        description=_("Sign a destination for this message: the returned URL records a click, "
                      "then redirects. Only absolute http(s) URLs are accepted."),
        request=serializers.LinkSerializer,
        parameters=[PUBLIC_ID],
        responses=_responses({200: serializers.TrackedLinkSerializer}, not_found=True),
    )
    @action(detail=True, methods=["post"])
    def links(self, request, *args, **kwargs) -> Response:
        message = self.get_object()
        serializer = serializers.LinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        url, position = serializer.validated_data["url"], serializer.validated_data["position"]
        return Response({"url": url, "position": position,
                         "tracked_url": message.tracked_url(url, position)})


@extend_schema_view(get=extend_schema(
    summary=_("List a message's events"),
    description=_("Every event of one message, of every kind (opens, clicks, downloads, "
                  "visits), in one list, each with its 'kind' and that kind's own fields; "
                  "newest first unless ?ordering says otherwise; cursor-paginated."),
    parameters=[PUBLIC_ID],
    responses=_responses({200: serializers.MessageEventSerializer(many=True)},
                         not_found=True),
))
class MessageEventsView(LeadpixelAPIMixin, GenericAPIView):
    """Every event of one message, merged in one cursor-paginated list."""

    serializer_class = serializers.MessageEventSerializer
    filterset_class = filters.MessageEventFilter
    pagination_class = KeysetPagination
    # For ModelPermissions: the view permission of every kind, the rule of
    # models.can_view_events (the admin's timeline and events CSV ask it too).
    permission_models = tuple(KINDS.values())

    def get_queryset(self) -> QuerySet:
        return _events(Open)  # describes the filters in the schema; see get()

    def get(self, request, public_id, *args, **kwargs) -> Response:
        message = get_object_or_404(Message, public_id=public_id)
        self.check_object_permissions(request, message)
        querysets = []
        for kind, model in KINDS.items():
            events = _events(model, message).annotate(kind=Value(kind),
                                                      **KIND_EXTRAS.get(model, {}))
            filterset = self.filterset_class(request.query_params, events, request=request)
            if not filterset.is_valid():
                # It returns a DRF ValidationError; its stub says a dict.
                raise translate_validation(filterset.errors)  # type: ignore[misc]
            querysets.append(filterset.qs)
        paginator = cast(KeysetPagination, self.paginator)
        page = paginator.paginate_querysets(querysets, request, view=self)
        return paginator.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(
    summary=_("Campaign report"),
    description=_("The figures of the admin report page (same code: "
                  "django_leadpixel.reports.campaign_report) for the messages of a campaign "
                  "sent between two days, inclusive; their events count whenever they "
                  "happened. Without parameters: every message."),
    parameters=[serializers.StatsQuerySerializer],
    responses=_responses({200: serializers.StatsSerializer}),
)
class StatsView(LeadpixelAPIMixin, APIView):
    # Model-based permission classes (DjangoModelPermissions) need a queryset:
    # the report's figures are the messages' (view_message).
    queryset = Message.objects.none()

    def get(self, request, *args, **kwargs) -> Response:
        query = serializers.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        figures = reports.campaign_report(**query.validated_data)
        downloads = reports.document_report(**query.validated_data)
        return Response({**figures, "downloads": {
            key: downloads[key] for key in serializers.DownloadStatsSerializer.KEYS}})


class LeadpixelSchemaGenerator(SchemaGenerator):
    """Only this API's endpoints, wherever the host mounts it."""

    # drf-spectacular's endpoints are (path, regex, method, callback); DRF's stubs say 3-tuples.
    endpoints: list[tuple[str, str, str, Any]] | None  # type: ignore[assignment]

    def _initialise_endpoints(self) -> None:
        super()._initialise_endpoints()
        self.endpoints = [
            (path, regex, method, callback)
            for path, regex, method, callback in self.endpoints or ()
            if isinstance(getattr(callback, "cls", None), type)
            and issubclass(callback.cls, LeadpixelAPIMixin)
        ]


class SchemaView(LeadpixelPermissionsMixin, SpectacularAPIView):
    """OpenAPI 3 schema of this API (not the rest of the host project)."""

    generator_class = LeadpixelSchemaGenerator
    queryset = Message.objects.none()  # for model-based permission classes
    # For ModelPermissions: whoever may call one endpoint may read the API's
    # description (it holds no data): view_message, add_message, or view of one event kind.
    permission_any_of = (("GET", Message), ("POST", Message), ("GET", Open), ("GET", Click),
                         ("GET", Download))
    custom_settings = {
        "TITLE": "django-leadpixel API",
        "DESCRIPTION": "Email opens and clicks, classified as people or machines.",
        "VERSION": __version__,
        "COMPONENT_SPLIT_REQUEST": True,
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "django_leadpixel.api.views.allow_empty_query_values",
        ],
    }


# The pages of the API root, in the order it lists them (URL names in this API's urls.py).
ROOT_LINKS = (("messages", "message-list"), ("opens", "open-list"), ("clicks", "click-list"),
              ("downloads", "download-list"), ("leads", "lead-list"), ("stats", "stats"),
              ("schema", "schema"), ("docs", "docs"), ("redoc", "redoc"))


def _url_name(request, name: str) -> str:
    """``name`` in the namespace the host included this API under (if any)."""
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    return f"{namespace}:{name}" if namespace else name


class ApiRootView(LeadpixelPermissionsMixin, APIView):
    """The API's endpoints: messages, opens, clicks, downloads, leads, stats, the schema
    and its pages."""

    queryset = Message.objects.none()
    permission_any_of = SchemaView.permission_any_of  # whoever may use one endpoint

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs) -> Response:
        return Response({key: reverse(_url_name(request, name), request=request)
                         for key, name in ROOT_LINKS})


class _SchemaPageMixin(LeadpixelPermissionsMixin):
    """Swagger UI and Redoc for this API's schema, from drf-spectacular-sidecar's
    static files (no CDN): ``drf_spectacular_sidecar`` goes in ``INSTALLED_APPS``."""

    queryset = Message.objects.none()
    permission_any_of = SchemaView.permission_any_of
    url: str | None = None

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.url = reverse(_url_name(request, "schema"))


class SwaggerView(_SchemaPageMixin, SpectacularSwaggerView):
    title = "django-leadpixel API"

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return static(f"drf_spectacular_sidecar/swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return static("drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png")


class RedocView(_SchemaPageMixin, SpectacularRedocView):
    title = "django-leadpixel API"
    template_name = "django_leadpixel/api/redoc.html"  # without web fonts from a CDN

    @staticmethod
    def _redoc_standalone() -> str:
        return static("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")


def allow_empty_query_values(result: dict, **kwargs) -> dict:
    """Say what DRF and django-filter do: an optional query parameter sent
    empty (``?status=``) is the same as one left out."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
