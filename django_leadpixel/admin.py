"""Admin: messages with their message-level truth, read-only open and click logs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .classify import SOURCES
from .models import Click, Message, Open, Status


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

    title = _("opened via")
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
        via_google = Exists(Open.objects.filter(message=OuterRef("pk"), source="google_proxy"))
        if self.value() == "yes":
            return queryset.filter(via_google)
        if self.value() == "no":
            return queryset.exclude(via_google)
        return queryset


class ReadOnlyMixin:
    """Events are an append-only log: nobody adds or edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("recipient", "subject", "campaign", "sent_at", "status_label",
                    "google_proxy_opens", "human_opens", "machine_opens", "clicks")
    list_filter = (StatusFilter, GoogleProxyFilter, OpenedViaFilter, "sent_at", "campaign")
    search_fields = ("recipient", "subject")
    date_hierarchy = "sent_at"
    show_full_result_count = False
    readonly_fields = ("public_id", "created_at", "first_open", "first_human_open",
                       "human_opens", "machine_opens", "google_proxy_opens", "human_clicks",
                       "scanner_clicks")

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).with_stats().with_status()

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj) -> str:
        return Status(obj.status).label

    @admin.display(description=_("via Google proxy"), ordering="google_proxy_opens")
    def google_proxy_opens(self, obj) -> int:
        return obj.google_proxy_opens

    @admin.display(description=_("opens by people"), ordering="human_opens")
    def human_opens(self, obj) -> int:
        return obj.human_opens

    @admin.display(description=_("machine opens"), ordering="machine_opens")
    def machine_opens(self, obj) -> int:
        return obj.machine_opens

    @admin.display(description=_("clicks"), ordering="clicks_total")
    def clicks(self, obj) -> int:
        return obj.clicks_total

    @admin.display(description=_("clicks by people"))
    def human_clicks(self, obj) -> int:
        return obj.human_clicks

    @admin.display(description=_("clicks by scanners and bots"))
    def scanner_clicks(self, obj) -> int:
        return obj.scanner_clicks

    @admin.display(description=_("first open"))
    def first_open(self, obj):
        return obj.first_open

    @admin.display(description=_("first open by a person"))
    def first_human_open(self, obj):
        return obj.first_human_open


class EventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "message", "source_badge", "place", "device", "ip")
    list_filter = ("source", "masked", "device_type", "occurred_at")
    list_select_related = ("message",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    search_fields = ("message__recipient",)
    raw_id_fields = ("message",)

    @admin.display(description=_("source"), ordering="source")
    def source_badge(self, obj) -> str:
        # format_html escapes both: reasons and user agents are untrusted text.
        return format_html('<span title="{}">{}</span>', obj.reason, obj.source_label)

    @admin.display(description=_("place"))
    def place(self, obj) -> str:
        if obj.masked:
            return _("masked by proxy") + (f" ({obj.operator})" if obj.operator else "")
        return ", ".join(x for x in (obj.city, obj.country) if x) or "–"

    @admin.display(description=_("device"))
    def device(self, obj) -> str:
        if obj.masked:
            return "–"
        parts = (obj.device_type, obj.os, obj.mail_client or obj.browser)
        return " / ".join(x for x in parts if x) or "–"


@admin.register(Open)
class OpenAdmin(EventAdmin):
    pass


@admin.register(Click)
class ClickAdmin(EventAdmin):
    list_display = ("occurred_at", "message", "source_badge", "url", "position", "place", "device")
