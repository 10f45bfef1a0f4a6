"""Admin: messages with their message-level truth and timeline, read-only open and
click logs, and the campaign report (an admin view under the message admin).

Built to stay fast on millions of events: the message list annotates its
figures once (correlated subqueries served by the ``(message, ...)`` indexes,
no per-row queries), never counts the whole table twice
(``show_full_result_count = False``), and its filters offer fixed choices
instead of ``SELECT DISTINCT`` over the event tables.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import django
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property, lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from . import reports
from .models import (
    KINDS,
    Click,
    Document,
    Download,
    Lead,
    Message,
    MessageQuerySet,
    Open,
    Status,
    Visit,
    can_view,
    can_view_events,
)
from .reports import charts, leads
from .reports.export import csv_response
from .reports.figures import FIRST_DAY, LAST_DAY
from .sources import MACHINE_NO_READER, PROXY_SOURCES, SOURCES, Source

if TYPE_CHECKING:
    _QuerySet = QuerySet
else:
    _QuerySet = object


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.filter(status=self.value())
        return queryset


class OpenedViaFilter(admin.SimpleListFilter):
    """Messages with at least one open of the chosen source."""

    title = _("opened via (source)")
    parameter_name = "opened_via"

    def lookups(self, request, model_admin):
        return SOURCES

    def queryset(self, request, queryset):
        if self.value() in dict(SOURCES):
            return queryset.opened_via(self.value())
        return queryset


class GoogleProxyFilter(admin.SimpleListFilter):
    title = _("Opened via Google Image Proxy")
    parameter_name = "google_proxy"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        via_google = Exists(Open.objects.filter(message=OuterRef("pk"),
                                                source=Source.GOOGLE_PROXY.value))
        if self.value() == "yes":
            return queryset.filter(via_google)
        if self.value() == "no":
            return queryset.exclude(via_google)
        return queryset


class DeviceTypeFilter(admin.SimpleListFilter):
    """Fixed choices: the default filter would run SELECT DISTINCT over every event."""

    title = _("device type")
    parameter_name = "device_type"

    def lookups(self, request, model_admin):
        return (("desktop", _("Desktop")), ("mobile", _("Mobile")), ("tablet", _("Tablet")),
                ("bot", _("Bot")))

    def queryset(self, request, queryset):
        if self.value() in ("desktop", "mobile", "tablet", "bot"):
            return queryset.filter(device_type=self.value())
        return queryset


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` + 1 rows.

    An exact ``COUNT(*)`` of a million events, or of messages filtered by a
    derived status, reads every row on each page view. Past the cap the page
    says "more than 5000": filters and the date hierarchy narrow it down.
    """

    cap = 5_000
    object_list: QuerySet[Any]  # a changelist's queryset

    @cached_property
    def count(self) -> int:
        # values("pk"): the figures annotated for display are not computed to count.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class ProbingDatesMixin(_QuerySet):
    """``datetimes()`` for the date hierarchy without ``SELECT DISTINCT`` over the table.

    Django lists the years, months or days that have rows with a DISTINCT
    over every row in range (half a second at a million events). Instead:
    MIN/MAX through the index, then one indexed EXISTS per candidate period
    (the hierarchy asks for the days of one month or the months of one year,
    so at most 31), which gives the same list.
    """

    max_probes = 62

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        span = (bounds["last"] - bounds["first"]).days if bounds["first"] else 0
        per_period = {"year": 365, "month": 28, "day": 1}.get(kind)
        if bounds["first"] is None or per_period is None or span / per_period > self.max_probes:
            return super().datetimes(field_name, kind, order, tzinfo)
        tz = tzinfo or timezone.get_current_timezone()
        first = timezone.localtime(bounds["first"], tz)
        last = timezone.localtime(bounds["last"], tz)
        periods = []
        start = first.replace(month=1 if kind == "year" else first.month,
                              day=1 if kind in ("year", "month") else first.day,
                              hour=0, minute=0, second=0, microsecond=0)
        while start <= last:
            if kind == "year":
                end = start.replace(year=start.year + 1)
            elif kind == "month":
                end = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
            else:
                end = start + datetime.timedelta(days=1)
            start, end = timezone.make_aware(start.replace(tzinfo=None), tz), \
                timezone.make_aware(end.replace(tzinfo=None), tz)
            if self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end}).exists():
                periods.append(start)
            start = end
        return periods if order == "ASC" else periods[::-1]


class FastChangeList(ChangeList):
    def get_queryset(self, request, *args, **kwargs):
        # *args: Django 5.0 added exclude_parameters; 4.2 has none.
        queryset = super().get_queryset(request, *args, **kwargs)
        # The date hierarchy tag calls cl.queryset.datetimes(); give that queryset
        # the probing version (the class is kept by every later clone).
        base = type(queryset)
        queryset.__class__ = _probing_classes.setdefault(
            base, type(f"Probing{base.__name__}", (ProbingDatesMixin, base), {}))
        return queryset


_probing_classes: dict[type, type] = {}


class LargeTableMixin:
    """Changelist settings for tables of millions of rows."""

    show_full_result_count: ClassVar[bool] = False
    paginator: ClassVar[type] = CappedCountPaginator

    def get_changelist(self, request, **kwargs):
        return FastChangeList


class ReadOnlyMixin:
    """Events are an append-only log: nobody adds or edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


#: One time format in the whole admin (lists, pages, timeline, report), always shown in
#: the current time zone (Django's ``TIME_ZONE``, or the one activated for the user).
TIME_FORMAT = "Y-m-d H:i:s"


def when(value: datetime.datetime | None) -> str:
    """``value`` in the admin's one time format, in the current time zone."""
    if value is None:
        return "–"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, TIME_FORMAT)


def header(short: str, full: str) -> Any:
    """A column header: a short word that fits a laptop's width, the full name on hover."""
    return lazy(lambda: format_html('<span title="{}">{}</span>', _(full), _(short)), SafeString)()


def figure(name: str, description: Any) -> Any:
    """A sortable column (or read-only field) showing the ``with_stats`` figure ``name``."""

    @admin.display(description=description, ordering=name)
    def show(model_admin: admin.ModelAdmin, obj: Message) -> int:
        return getattr(obj, name)

    return show


def clipped(text: str, width_em: int) -> str:
    """``text`` cut to one line of ``width_em`` with an ellipsis; all of it on hover."""
    return format_html('<span title="{}" style="display:inline-block;max-width:{}em;'
                       'overflow:hidden;text-overflow:ellipsis;white-space:nowrap;'
                       'vertical-align:bottom">{}</span>', text, width_em, text)


def _masked_as(event) -> str:
    """What withheld an event's place and device: a proxy, or the machine itself."""
    if event.source in MACHINE_NO_READER:
        return str(_("scanner")) if event.source == Source.SCANNER else str(_("bot"))
    return str(_("masked by proxy"))


def place_of(event) -> str:
    """Where an event came from, or why that is unknown (plain text; escaped by callers)."""
    if event.anonymous:
        return str(_("not stored (no tracking consent)"))
    if event.masked:
        who = f" ({event.operator})" if event.operator else ""
        return _masked_as(event) + who
    if event.enriched_at is None:
        return str(_("not enriched yet"))
    return ", ".join(x for x in (event.city, event.region, event.country) if x) or "–"


def device_of(event) -> str:
    if event.anonymous:
        return "–"
    if event.masked:
        return _masked_as(event)
    if event.enriched_at is None:
        return str(_("not enriched yet"))
    parts = (event.device_type, event.os, event.mail_client or event.browser)
    return " / ".join(x for x in parts if x) or "–"


def source_badge_html(event) -> str:
    """The source's badge: the report charts' colour, text readable on it (WCAG AA)."""
    return format_html('<span class="lp-src" style="{}" title="{}">{}</span>',
                       charts.badge_style(event.source), event.reason, event.source_label)


def timeline_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry (``reports.timeline``, ``leads.lead_detail``) with what the
    timeline partial shows: the time, and for an event its source's label and badge,
    its place and its device (plain text; escaped by the template)."""
    event = entry["event"]
    if event is None:
        return {**entry, "when": when(entry["at"]), "label": "", "badge_style": "", "place": "",
                "device": ""}
    return {**entry, "when": when(entry["at"]), "label": event.source_label,
            "badge_style": charts.badge_style(event.source), "place": place_of(event),
            "device": device_of(event)}


def validate_report_day(value: datetime.date) -> None:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(_("Enter a date between %(first)s and %(last)s."),
                              code="out_of_range",
                              params={"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()})


def _date_field(label) -> forms.DateField:
    return forms.DateField(
        label=label, required=False, validators=[validate_report_day],
        widget=forms.DateInput(attrs={"type": "date", "min": FIRST_DAY.isoformat(),
                                      "max": LAST_DAY.isoformat()}))


class ReportFilterForm(forms.Form):
    campaign = forms.ChoiceField(label=_("campaign"), required=False)
    start = _date_field(_("sent from"))
    end = _date_field(_("sent until"))

    def __init__(self, *args, campaigns=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["campaign"]).choices = [("", _("All campaigns"))] + [
            (c, c or _("(no campaign)")) for c in campaigns
        ]

    def filters(self) -> dict:
        """Keyword arguments for ``reports.campaign_report`` (invalid input = no filter)."""
        if not self.is_valid():
            return {"campaign": None, "start": None, "end": None}
        data = self.cleaned_data
        return {"campaign": data["campaign"] or None, "start": data["start"],
                "end": data["end"]}

    def query(self) -> str:
        """The query of the CSV links: the effective filters, defaults included (all time
        when the page ignored invalid input)."""
        if not self.is_valid():
            return "start=&end="
        return cast(QueryDict, self.data).urlencode()

    def error_text(self) -> str:
        """The errors, one line per field, for a plain-text answer."""
        return "\n".join(f"{name}: {' '.join(str(e) for e in errors)}"
                         for name, errors in self.errors.items())


@admin.register(Message)
class MessageAdmin(LargeTableMixin, admin.ModelAdmin):
    # Fits 1,400 px with the sidebar and the filters: recipient and subject share a
    # column, the campaign is in the filters, the counts have one-word headers.
    # The lead's link shares the status column (a column of its own would not fit), and
    # downloads and visits are on the change page only (two more columns do not fit).
    list_display = ("message", "sent", "status_and_lead",
                    "google_proxy_opens", "human_opens", "machine_opens", "clicks")
    list_display_links = ("message",)
    list_filter = ("campaign", "sent_at", StatusFilter, GoogleProxyFilter, OpenedViaFilter)
    search_fields = ("recipient", "subject")
    date_hierarchy = "sent_at"
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = ("public_id", "created", "status_label", "first_open",
                       "first_human_open", "opens_total", "human_opens", "machine_opens",
                       "google_proxy_opens", "clicks", "human_clicks", "scanner_clicks",
                       "downloads", "human_downloads", "scanner_downloads", "visits", "human_visits",
                       "scanner_visits", "lead_link")
    change_form_template = "admin/django_leadpixel/message/change_form.html"
    change_list_template = "admin/django_leadpixel/message/change_list.html"

    def get_fieldsets(self, request, obj=None):
        fields: tuple[str, ...] = ("recipient", "subject", "campaign", "sent_at", "tracking_consent",
                                   "metadata")
        if obj is None:
            return [(None, {"fields": fields})]
        message = (None, {"fields": (*fields, "lead_link")})
        return [
            message,
            (_("What happened"), {"fields": (
                "status_label", ("first_open", "first_human_open"),
                ("opens_total", "human_opens", "machine_opens", "google_proxy_opens"),
                ("clicks", "human_clicks", "scanner_clicks"),
                ("downloads", "human_downloads", "scanner_downloads"),
                ("visits", "human_visits", "scanner_visits"),
            )}),
            (_("Identifiers"), {"fields": ("public_id", "created"),
                                "classes": ("collapse",)}),
        ]

    def get_queryset(self, request) -> QuerySet:
        # Annotated once for the whole page: no query per row.
        return cast(MessageQuerySet, super().get_queryset(request)).with_stats().with_status()

    # --- figures -------------------------------------------------------------------------

    @admin.display(description=_("lead"))
    def lead_link(self, obj) -> str:
        return lead_link(obj.recipient, self.admin_site.name)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj) -> str:
        return Status(obj.status).label

    @admin.display(description=_("status"), ordering="status")
    def status_and_lead(self, obj) -> str:
        return format_html('{}<br><span class="lp-lead">{}</span>', Status(obj.status).label,
                           lead_link(obj.recipient, self.admin_site.name))

    @admin.display(description=header("Message", "Recipient, then subject"), ordering="recipient")
    def message(self, obj) -> str:
        return format_html('{}<br><span class="lp-subject">{}</span>', clipped(obj.recipient, 10),
                           clipped(obj.subject, 10))

    @admin.display(description=_("sent"), ordering="sent_at")
    def sent(self, obj) -> str:
        return when(obj.sent_at)

    @admin.display(description=_("created"))
    def created(self, obj) -> str:
        return when(obj.created_at)

    # Short headers (the full name on hover) so that the list fits 1,400 px.
    google_proxy_opens = figure("google_proxy_opens", header("Google", "Opens via Google proxy"))
    opens_total = figure("opens_total", _("opens"))
    human_opens = figure("human_opens", header("People", "Opens by people"))
    machine_opens = figure("machine_opens", header("Machines", "Machine opens"))
    clicks = figure("clicks_total", header("Clicks", "Clicks by anyone or anything"))
    human_clicks = figure("human_clicks", _("clicks by people"))
    scanner_clicks = figure("scanner_clicks", _("clicks by scanners and bots"))
    downloads = figure("downloads_total", _("downloads"))
    human_downloads = figure("human_downloads", _("downloads by people"))
    scanner_downloads = figure("scanner_downloads", _("downloads by scanners and bots"))
    visits = figure("visits_total", _("visits"))
    human_visits = figure("human_visits", _("visits by people"))
    scanner_visits = figure("scanner_visits", _("visits by scanners and bots"))

    @admin.display(description=_("first open"))
    def first_open(self, obj) -> str:
        return when(obj.first_open)

    @admin.display(description=_("first open by a person"))
    def first_human_open(self, obj) -> str:
        return when(obj.first_human_open)

    # --- change page timeline ------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        if obj is not None and obj.pk and not can_view_events(request.user):
            context["timeline_hidden"] = True
        elif obj is not None and obj.pk:
            context["timeline"] = [timeline_entry(entry) for entry in reports.timeline(obj)]
            context["timeline_limit"] = reports.TIMELINE_LIMIT
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- report --------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("report/", view(self.report_view), name="{}_{}_report".format(*info)),
            path("report/figures.csv", view(self.report_csv_view),
                 name="{}_{}_report_csv".format(*info)),
            path("report/events.csv", view(self.events_csv_view),
                 name="{}_{}_events_csv".format(*info)),
            *super().get_urls(),
        ]

    #: Without a date in the query, the report page shows messages sent in the last
    #: this many days: its cost then follows the sending rate, not the whole history.
    #: Clearing both dates (``?start=&end=``) asks for all time.
    report_default_days = 30

    def _report_filters(self, request: HttpRequest) -> tuple[ReportFilterForm, dict]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Distinct campaigns via the (campaign, sent_at) index.
        campaigns = (Message.objects.order_by("campaign").values_list("campaign", flat=True)
                     .distinct())
        data = request.GET.copy()
        if "start" not in data and "end" not in data:
            data["start"] = (timezone.localdate()
                             - datetime.timedelta(days=self.report_default_days)).isoformat()
        form = ReportFilterForm(data, campaigns=list(campaigns))
        return form, form.filters()

    def report_view(self, request: HttpRequest) -> HttpResponse:
        form, filters = self._report_filters(request)
        report = reports.campaign_report(**filters)
        labels = dict(SOURCES)
        present = [s for s, _label in SOURCES
                   if report["opens_by_source"][s] or report["clicks_by_source"][s]]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Campaign report"),
            "opts": self.opts,
            "form": form,
            "report": report,
            # The CSV links repeat the effective filters, defaults included.
            "query": form.query(),
            "can_export_events": can_view_events(request.user),
            # Percentages for display; the report itself keeps fractions.
            "percent": {key: report[key] * 100 for key in (
                "open_rate_people", "open_rate_all", "click_rate", "click_to_open")},
            "sources": [(s, labels[s], report["opens_by_source"][s],
                         report["clicks_by_source"][s]) for s, _label in SOURCES],
            "legend": charts.legend(present),
            "opens_chart": charts.stacked_bars(report["daily"], "opens",
                                               title=str(_("Opens per day by source"))),
            "clicks_chart": charts.stacked_bars(report["daily"], "clicks",
                                                title=str(_("Clicks per day by source"))),
            "proxy_chart": charts.share_bars(
                {s: report["proxy_share"][s] for s in PROXY_SOURCES},
                title=str(_("Share of opens per proxy"))),
            # The estimate of the people who opened, in percent of the messages sent.
            "rates_percent": reports.rates.percentages(report),
        }
        if can_view_events(request.user):  # who loaded what: the events' permissions
            context["images"] = reports.opens_by_image(**filters)
            context["documents"] = reports.document_report(**filters)
        return TemplateResponse(request, "admin/django_leadpixel/report.html", context)

    @staticmethod
    def _filename(kind: str, filters: dict) -> str:
        # Only slug characters reach the header: campaign names are user data.
        bits = ["leadpixel", kind, slugify(filters["campaign"] or "all")[:50]]
        bits += [d.isoformat() for d in (filters["start"], filters["end"]) if d]
        return "-".join(bits) + ".csv"

    @staticmethod
    def _refused(form: ReportFilterForm) -> HttpResponse | None:
        """A CSV of everything is no answer to a filter that was wrong: say what was."""
        if form.is_valid():
            return None
        return HttpResponseBadRequest(
            _("Invalid filter, nothing exported:") + "\n" + form.error_text() + "\n",
            content_type="text/plain; charset=utf-8")

    def report_csv_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        form, filters = self._report_filters(request)
        if refused := self._refused(form):
            return refused
        report = reports.campaign_report(**filters)
        return csv_response(reports.figures_rows(report), self._filename("report", filters))

    def events_csv_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        # view_message (checked with the filters) and, for the events themselves,
        # the view permission of every kind.
        if not can_view_events(request.user):
            raise PermissionDenied
        form, filters = self._report_filters(request)
        if refused := self._refused(form):
            return refused
        return csv_response(reports.event_rows(**filters), self._filename("events", filters))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "report_url": reverse("admin:django_leadpixel_message_report",
                                               current_app=self.admin_site.name)}
        return super().changelist_view(request, extra_context)


class EventAdmin(LargeTableMixin, ReadOnlyMixin, admin.ModelAdmin):
    # Place and device share a column, long texts are clipped (all of it on hover):
    # the lists fit 1,400 px with the sidebar and the filters.
    list_display: tuple[str, ...] = (
        "occurred", "message_link", "source_badge", "place_and_device", "ip")
    list_filter: ClassVar[tuple[Any, ...]] = ("source", "masked", DeviceTypeFilter, "occurred_at")
    list_select_related: ClassVar[tuple[str, ...]] = ("message",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    search_fields = ("message__recipient",)
    raw_id_fields = ("message",)
    list_per_page = 50

    @admin.display(description=_("time"), ordering="occurred_at")
    def occurred(self, obj) -> str:
        return format_html('<span style="white-space:nowrap">{}</span>', when(obj.occurred_at))

    @admin.display(description=_("message"), ordering="message__sent_at")
    def message_link(self, obj) -> str:
        url = reverse("admin:django_leadpixel_message_change", args=[obj.message_id],
                      current_app=self.admin_site.name)
        # The lead's link under it: a column of its own would not fit 1,400 px.
        return format_html('<a href="{}">{}</a><br>{}<br><span class="lp-lead">{}</span>', url,
                           clipped(obj.message.recipient, 9), clipped(obj.message.subject, 9),
                           lead_link(obj.message.recipient, self.admin_site.name))

    @admin.display(description=_("source"), ordering="source")
    def source_badge(self, obj) -> str:
        # format_html escapes both: reasons and user agents are untrusted text.
        return source_badge_html(obj)

    @admin.display(description=_("place"))
    def place(self, obj) -> str:
        return clipped(place_of(obj), 14)

    @admin.display(description=_("device"))
    def device(self, obj) -> str:
        return clipped(device_of(obj), 14)

    @admin.display(description=header("Place / device", "Place, then device"))
    def place_and_device(self, obj) -> str:
        return format_html("{}<br>{}", clipped(place_of(obj), 10), clipped(device_of(obj), 10))


@admin.register(Open)
class OpenAdmin(EventAdmin):
    list_display = ("occurred", "message_link", "source_badge", "image_path", "place_and_device", "ip")

    @admin.display(description=header("Image", "Tracked image loaded (blank: the pixel)"),
                   ordering="image")
    def image_path(self, obj) -> str:
        return clipped(obj.image, 8) if obj.image else ""


@admin.register(Click)
class ClickAdmin(EventAdmin):
    list_display = ("occurred", "message_link", "source_badge", "link", "place_and_device")

    @admin.display(description=header("Link", "Link position and destination"),
                   ordering="position")
    def link(self, obj) -> str:
        return format_html("#{} {}", obj.position, clipped(obj.url, 9))


# --- tracked documents and their downloads ------------------------------------------


class DocumentForm(forms.ModelForm):
    # Django 5.0+ warns unless told the scheme to assume; 4.2 has no such argument.
    url = forms.URLField(
        label=_("external URL"), max_length=2000, required=False,
        help_text=_("Redirect here instead of serving a file."),
        **cast(dict[str, Any], {"assume_scheme": "https"} if django.VERSION >= (5, 0) else {}))

    class Meta:
        model = Document
        fields = ("title", "slug", "file", "url", "disposition")

    def clean(self):
        data = super().clean() or {}
        has_file = bool(data.get("file")) and data.get("file") is not False
        if has_file == bool(data.get("url")):
            raise forms.ValidationError(_("Give either a file or an external URL (one of them)."))
        return data


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Upload, replace (upload another file on the same document: its links keep
    working) and see how often each document was downloaded, by people and in all."""

    form = DocumentForm
    list_display = ("title", "filename", "disposition", "content_type", "size",
                    "people_downloads", "all_downloads", "updated_at")
    readonly_fields = ("public_id", "content_type", "size", "people_downloads", "all_downloads",
                       "created_at", "updated_at")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(
            n_all=Count("downloads", distinct=True),
            n_people=Count("downloads", filter=Q(downloads__source="human"), distinct=True))

    @admin.display(description=_("downloads by people"), ordering="n_people")
    def people_downloads(self, obj) -> int:
        return getattr(obj, "n_people", 0)

    @admin.display(description=_("all downloads"), ordering="n_all")
    def all_downloads(self, obj) -> int:
        return getattr(obj, "n_all", 0)


@admin.register(Download)
class DownloadAdmin(EventAdmin):
    list_display = ("occurred", "message_link", "document_title", "source_badge", "method",
                    "place_and_device")
    list_filter = ("source", "document", "method", "masked", DeviceTypeFilter, "occurred_at")
    list_select_related = ("message", "document")

    @admin.display(description=_("document"), ordering="document__title")
    def document_title(self, obj) -> str:
        return obj.document.title if obj.document else str(_("(deleted document)"))



# --- visits and leads --------------------------------------------------------------------


def lead_link(email: str, site: str = "admin") -> str:
    """A link to the lead page of ``email`` (the address lowercased, as leads are keyed)."""
    key = leads.normalise(email)
    url = reverse("admin:django_leadpixel_lead_change", args=[quote(key)], current_app=site)
    return format_html('<a href="{}">{}</a>', url, _("lead"))


@admin.register(Visit)
class VisitAdmin(EventAdmin):
    list_display = ("occurred", "message_link", "source_badge", "page", "place_and_device")

    @admin.display(description=header("Page", "Page viewed, and the host it came from"),
                   ordering="path")
    def page(self, obj) -> str:
        if obj.referrer_host:
            return format_html("{}<br>← {}", clipped(obj.path, 12), clipped(obj.referrer_host, 12))
        return clipped(obj.path, 12)


class EngagedFilter(admin.SimpleListFilter):
    title = _("engaged by a person")
    parameter_name = "engaged"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No: machines only, or nothing"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(last_seen__isnull=self.value() == "no")
        return queryset


class LeadCampaignFilter(admin.SimpleListFilter):
    title = _("campaign")
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        campaigns = Message.objects.exclude(campaign="").order_by("campaign") \
            .values_list("campaign", flat=True).distinct()[:200]
        return [(c, c) for c in campaigns]

    def queryset(self, request, queryset):
        if self.value():
            return queryset & leads.leads(campaign=str(self.value()))
        return queryset


# The lead list's header of each kind's count: short, the full name on hover.
COUNT_HEADERS = {"open": ("Opens", "Opens by a person"), "click": ("Clicks", "Clicks by a person"),
                 "download": ("Files", "Downloads by a person"),
                 "visit": ("Visits", "Page views by a person")}


def person_count(kind: str) -> Callable[[Lead], int]:
    """The lead list's column of a person's events of ``kind``, sortable."""
    short, full = COUNT_HEADERS.get(kind, (f"{kind}s".capitalize(), f"{kind}s by a person"))

    @admin.display(description=header(short, full), ordering=f"{kind}s")
    def column(lead: Lead) -> int:
        return getattr(lead, f"{kind}s")

    column.__name__ = f"{kind}s"  # the cells' class: field-opens, field-clicks, ...
    return column


@admin.register(Lead)
class LeadAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Leads: one recipient address across its messages, sortable by engagement score.

    Readable by whoever may read messages (``view_message``); the lead page's
    places, devices and timeline also need the permission to view each kind of event.
    """

    # Short headers and one-line cells, so the list fits a laptop's 1,400 px beside the
    # filters on every supported Django (tests/admin/test_browser.py); first and last
    # seen are on the lead page, and the list filters by last seen.
    list_display: Any = ("address", "read", *(person_count(kind) for kind in KINDS),
                         "engagement")
    list_filter = (EngagedFilter, LeadCampaignFilter, "last_seen")
    search_fields = ("email",)
    ordering = ("-score", "email")
    show_full_result_count = False
    list_per_page = 50
    lead_template = "admin/django_leadpixel/lead/detail.html"

    def has_view_permission(self, request, obj=None):
        return can_view(request.user, Message)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Email"), ordering="email")
    def address(self, lead: Lead) -> str:
        return clipped(lead.email, 13)

    @admin.display(description=header("Read", "Messages opened by a person, of those sent"),
                   ordering="opened")
    def read(self, lead: Lead) -> str:
        return f"{lead.opened}/{lead.messages}"

    @admin.display(description=header("Score", "Engagement score"), ordering="score")
    def engagement(self, lead: Lead) -> str:
        return f"{lead.score:.1f}"

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return queryset.filter(email__contains=leads.normalise(search_term)), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        detail = leads.lead_detail(unquote(object_id))
        if detail is None:
            raise Http404(_("No message was sent to this address."))
        events = can_view_events(request.user)
        timeline = [{**timeline_entry(entry),
                     "message_url": reverse("admin:django_leadpixel_message_change",
                                            args=[entry["message"].pk], current_app=self.admin_site.name)}
                    for entry in detail["timeline"]] if events else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": detail["email"],
            "detail": detail,
            "lead": detail["lead"],
            "kinds": [(kind, getattr(detail["lead"], f"{kind}s", 0)) for kind in KINDS],
            "events_hidden": not events,
            "timeline": timeline,
            "timeline_limit": leads.LEAD_TIMELINE_LIMIT,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.lead_template, context)


def add_report_to_app_list(site: admin.AdminSite) -> None:
    """List the campaign report with the app's models wherever the site lists apps: the
    site index, the app index and the navigation sidebar (a report is no model, so
    Django's app list would not name it)."""
    plain = site.get_app_list
    if getattr(plain, "lists_leadpixel_report", False):
        return

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = plain(request, app_label)
        for app in app_list:
            if app.get("app_label") == Message._meta.app_label and can_view(request.user, Message):
                app["models"].append({
                    "name": _("Campaign report"),
                    "object_name": "CampaignReport",
                    "perms": {"view": True},
                    "admin_url": reverse("admin:django_leadpixel_message_report",
                                         current_app=site.name),
                    "add_url": None,
                    "view_only": True,
                })
        return app_list

    get_app_list.lists_leadpixel_report = True  # type: ignore[attr-defined]  # marks the wrapper
    site.get_app_list = get_app_list  # type: ignore[method-assign]  # this one site's instance


add_report_to_app_list(admin.site)
