"""Serializers. Events never expose the raw IP address or user agent (personal data)."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from django.template import Context
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import tokens
from ..models import KINDS, SOURCE_LABELS, Message, Status
from ..reports.figures import FIRST_DAY, LAST_DAY
from ..sources import SOURCES, VALUES
from ..templatetags.leadpixel import lead_pixel

if TYPE_CHECKING:
    _Serializer = serializers.Serializer
else:
    _Serializer = object

SOURCE_KEYS = VALUES

SourceCountsSerializer = type("SourceCountsSerializer", (serializers.Serializer,), {
    "__doc__": "One count per classification source; every source is present.",
    "__module__": __name__,
    **{key: serializers.IntegerField() for key in SOURCE_KEYS},
})


def _walk_strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


class JSONTypesMixin(_Serializer):
    """JSON has types: 42 is not a subject and 0 is not ``false``, although DRF's
    fields would coerce them (they are built for form data too)."""

    json_types: dict[str, str] = {}
    _checks = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: [_("Must be a JSON %(type)s.") % {"type": kind}]
                for name, kind in self.json_types.items()
                if data.get(name) is not None and not self._checks[kind](data[name])
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


# ----------------------------------------------------------------------------- messages

class MessageSerializer(serializers.ModelSerializer):
    """A message with its message-level truth (``with_stats().with_status()``)."""

    id = serializers.UUIDField(source="public_id", read_only=True,
                               help_text=_("Public id; used in URLs and tracking tokens."))
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    first_open = serializers.DateTimeField(read_only=True, allow_null=True,
                                           help_text=_("First open by anyone or anything."))
    first_human_open = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text=_("First open by a person (directly or through a reader's image proxy), "
                    "or their first click, download or visit."))
    opens_total = serializers.IntegerField(read_only=True)
    human_opens = serializers.IntegerField(
        read_only=True, help_text=_("Opens by people, image proxies of readers included."))
    machine_opens = serializers.IntegerField(
        read_only=True, help_text=_("Apple Mail Privacy Protection prefetches, scanners, bots."))
    google_proxy_opens = serializers.IntegerField(read_only=True)
    clicks_total = serializers.IntegerField(read_only=True)
    human_clicks = serializers.IntegerField(read_only=True)
    scanner_clicks = serializers.IntegerField(read_only=True,
                                              help_text=_("Clicks by scanners and bots."))
    downloads_total = serializers.IntegerField(read_only=True,
                                               help_text=_("Downloads of tracked documents."))
    human_downloads = serializers.IntegerField(read_only=True,
                                               help_text=_("Downloads by people."))
    scanner_downloads = serializers.IntegerField(read_only=True,
                                                 help_text=_("Downloads by scanners and bots."))
    visits_total = serializers.IntegerField(read_only=True,
                                            help_text=_("Page views on your site by the reader."))
    human_visits = serializers.IntegerField(read_only=True, help_text=_("Visits by people."))
    scanner_visits = serializers.IntegerField(read_only=True,
                                              help_text=_("Visits by scanners and bots."))
    pixel_url = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "recipient", "subject", "campaign", "metadata", "sent_at",
                  "tracking_consent", "created_at", "status", "first_open", "first_human_open",
                  "opens_total", "human_opens", "machine_opens", "google_proxy_opens",
                  "clicks_total", "human_clicks", "scanner_clicks", "downloads_total",
                  "human_downloads", "scanner_downloads", "visits_total", "human_visits",
                  "scanner_visits", "pixel_url"]
        read_only_fields = fields

    def get_pixel_url(self, message: Message) -> str:
        return message.pixel_url()


class MessageDetailSerializer(MessageSerializer):
    """Adds counts by source and the ready ``<img>`` tag."""

    opens_by_source = SourceCountsSerializer(read_only=True,
                                             help_text=_("Opens per classification source."))
    clicks_by_source = SourceCountsSerializer(read_only=True,
                                              help_text=_("Clicks per classification source."))
    downloads_by_source = SourceCountsSerializer(
        read_only=True, help_text=_("Downloads of tracked documents per classification source."))
    visits_by_source = SourceCountsSerializer(
        read_only=True, help_text=_("Visits on the sender's site per classification source."))
    pixel_html = serializers.SerializerMethodField(
        help_text=_("The <img> that {% lead_pixel %} renders; paste it into the HTML body."))

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "pixel_html",
                  *(f"{kind}s_by_source" for kind in KINDS)]
        read_only_fields = fields

    def get_pixel_html(self, message: Message) -> str:
        return str(lead_pixel(Context(), message))


# Message.tracking_consent's default (True), the one value the API offers and stores.
CONSENT_DEFAULT: bool = Message._meta.get_field("tracking_consent").default  # type: ignore[union-attr]


class MessageCreateSerializer(JSONTypesMixin, serializers.ModelSerializer):
    json_types = {"recipient": "string", "subject": "string", "campaign": "string",
                  "sent_at": "string", "tracking_consent": "boolean"}

    sent_at = serializers.DateTimeField(
        required=False,
        help_text=_("Defaults to now; from 1970-01-01T00:00:00Z to 9000-12-31T23:59:59Z."))
    # One default everywhere: the model's. DRF's BooleanField pre-fills False in the
    # browsable API's form unless told otherwise (initial), while a create without the
    # field stores the default.
    tracking_consent = serializers.BooleanField(
        default=CONSENT_DEFAULT, initial=CONSENT_DEFAULT,
        help_text=_("Defaults to true. Without consent, events are stored anonymously (time "
                    "and source only)."))
    metadata = serializers.JSONField(
        required=False, help_text=_("Any JSON object, stored with the message."))

    class Meta:
        model = Message
        fields = ["recipient", "subject", "campaign", "metadata", "sent_at", "tracking_consent"]

    def validate_sent_at(self, value: datetime.datetime) -> datetime.datetime:
        # Compared in UTC (or as given, without USE_TZ).
        utc = value.astimezone(datetime.timezone.utc) if timezone.is_aware(value) else value
        if not FIRST_DAY <= utc.date() <= LAST_DAY:
            raise serializers.ValidationError(
                _("Must be between %(first)sT00:00:00Z and %(last)sT23:59:59Z.")
                % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()})
        return value

    def validate_metadata(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError(_("Must be a JSON object."))
        for text in _walk_strings(value):
            # PostgreSQL's jsonb stores neither NUL nor lone surrogates.
            if "\x00" in text:
                raise serializers.ValidationError(_("Strings may not contain NUL characters."))
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise serializers.ValidationError(_("Strings must be valid Unicode.")) from None
        return value


# ----------------------------------------------------------------------------- links

class LinkSerializer(JSONTypesMixin, serializers.Serializer):
    json_types = {"url": "string", "position": "integer"}

    url = serializers.CharField(
        max_length=tokens.MAX_DESTINATION_LENGTH, trim_whitespace=True,
        help_text=_("Absolute http(s) destination."))
    position = serializers.IntegerField(
        min_value=0, max_value=0xFFFF, default=0,
        help_text=_("Order of the link in the message (0 = first)."))

    def validate_url(self, value: str) -> str:
        try:
            # Signed once with a stand-in id: a token's length does not depend on the
            # message, so a destination too long for any tracking URL is refused here.
            tokens.make_click_token(uuid.UUID(int=0), value)
            return tokens.check_destination(value)
        except tokens.UnsafeDestination as exc:
            raise serializers.ValidationError(str(exc)) from None


class TrackedLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text=_("The destination, as signed."))
    position = serializers.IntegerField()
    tracked_url = serializers.URLField(
        help_text=_("Signed click URL: records a click, then redirects to the destination."))


# ----------------------------------------------------------------------------- events

class EventSerializer(serializers.Serializer):
    """Fields shared by opens and clicks; no IP address, no user agent."""

    id = serializers.UUIDField(read_only=True)
    message = serializers.UUIDField(source="message_public_id", read_only=True,
                                    help_text=_("The message's public id."))
    occurred_at = serializers.DateTimeField(read_only=True)
    # A declared field (DRF's metaclass takes it off the class), not Field.source.
    source = serializers.ChoiceField(choices=SOURCES, read_only=True)  # type: ignore[assignment]
    source_label = serializers.SerializerMethodField()
    reason = serializers.CharField(read_only=True)
    operator = serializers.CharField(read_only=True,
                                     help_text=_("Who runs the proxy or scanner, when known."))
    masked = serializers.BooleanField(
        read_only=True, help_text=_("Place and device hidden by a proxy or a machine's."))
    anonymous = serializers.BooleanField(
        read_only=True, help_text=_("Stored without tracking consent: time and source only."))
    enriched = serializers.SerializerMethodField(
        help_text=_("False until the enrichment task has run."))
    country = serializers.CharField(read_only=True)
    region = serializers.CharField(read_only=True)
    city = serializers.CharField(read_only=True)
    device_type = serializers.CharField(read_only=True)
    os = serializers.CharField(read_only=True)
    browser = serializers.CharField(read_only=True)
    mail_client = serializers.CharField(read_only=True)

    def get_source_label(self, event) -> str:
        return str(SOURCE_LABELS.get(event.source, event.source))

    def get_enriched(self, event) -> bool:
        return event.enriched_at is not None


class OpenSerializer(EventSerializer):
    image = serializers.CharField(read_only=True,
                                  help_text=_("The tracked image loaded; blank for the pixel."))


class DownloadSerializer(EventSerializer):
    document = serializers.UUIDField(source="document_id", read_only=True,
                                     help_text=_("The document's public id (it may since be deleted)."))


class ClickSerializer(EventSerializer):
    url = serializers.CharField(read_only=True, help_text=_("The destination."))
    position = serializers.IntegerField(read_only=True)


class MessageEventSerializer(EventSerializer):
    """An event of one message, of any kind, with the fields of its kind; the fields
    of the other kinds are null."""

    # Each kind's own fields (one entry per kind of models.KINDS).
    KIND_FIELDS: dict[str, tuple[str, ...]] = {
        "open": ("image",), "click": ("url", "position"),
        "download": ("document", "document_title"),
        "visit": ("path", "referrer_host", "click_id"),
    }

    kind = serializers.ChoiceField(choices=[(kind, kind) for kind in KINDS], read_only=True)
    image = serializers.CharField(
        read_only=True, allow_null=True,
        help_text=_("Opens only: the tracked image loaded, blank for the pixel."))
    url = serializers.CharField(read_only=True, allow_null=True,
                                help_text=_("Clicks only: the destination."))
    position = serializers.IntegerField(read_only=True, allow_null=True,
                                        help_text=_("Clicks only: the link's order in the message."))
    document = serializers.UUIDField(
        source="document_id", read_only=True, allow_null=True,
        help_text=_("Downloads only: the document's public id (it may since be deleted)."))
    document_title = serializers.CharField(
        read_only=True, allow_null=True,
        help_text=_("Downloads only: the document's title; null once the document is deleted."))
    path = serializers.CharField(read_only=True, allow_null=True,
                                 help_text=_("Visits only: the page viewed."))
    referrer_host = serializers.CharField(
        read_only=True, allow_null=True,
        help_text=_("Visits only: the host the visitor came from; blank when unknown."))
    click_id = serializers.UUIDField(
        read_only=True, allow_null=True,
        help_text=_("Visits only: the id of the click that brought the visitor, when known."))

    def to_representation(self, event) -> dict:
        # A field another kind owns reads as null, whatever the row holds.
        others = {name for kind, names in self.KIND_FIELDS.items() if kind != event.kind
                  for name in names}
        data = super().to_representation(event)
        return {"kind": event.kind, **{name: None if name in others else value
                                       for name, value in data.items() if name != "kind"}}


# ----------------------------------------------------------------------------- stats

def validate_day(value: datetime.date) -> None:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise serializers.ValidationError(
            _("Must be a date between %(first)s and %(last)s.")
            % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()})


class StatsQuerySerializer(serializers.Serializer):
    campaign = serializers.CharField(required=False, max_length=200,
                                     help_text=_("Exact campaign name; all campaigns if absent."))
    start = serializers.DateField(
        required=False, validators=[validate_day],
        help_text=_("First sending day (YYYY-MM-DD), inclusive; 1970-01-01 to 9000-12-31."))
    end = serializers.DateField(
        required=False, validators=[validate_day],
        help_text=_("Last sending day (YYYY-MM-DD), inclusive; 1970-01-01 to 9000-12-31."))

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start > end:
            raise serializers.ValidationError({"end": [_("Must not be before start.")]})
        return attrs



class SourceSharesSerializer(serializers.Serializer):
    """Share of all opens per proxy source (0 to 1)."""

    google_proxy = serializers.FloatField()
    yahoo_proxy = serializers.FloatField()
    apple_mpp = serializers.FloatField()
    other_proxy = serializers.FloatField()


class StatsFiltersSerializer(serializers.Serializer):
    campaign = serializers.CharField(allow_null=True)
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)


class DailySerializer(serializers.Serializer):
    date = serializers.DateField()
    opens = SourceCountsSerializer()
    clicks = SourceCountsSerializer()


class CountrySerializer(serializers.Serializer):
    country = serializers.CharField()
    events = serializers.IntegerField()


class DeviceSerializer(serializers.Serializer):
    device_type = serializers.CharField()
    os = serializers.CharField()
    events = serializers.IntegerField()


class MailClientSerializer(serializers.Serializer):
    mail_client = serializers.CharField()
    events = serializers.IntegerField()


class LinkStatsSerializer(serializers.Serializer):
    url = serializers.CharField()
    position = serializers.IntegerField()
    clicks = serializers.IntegerField()
    human_clicks = serializers.IntegerField()


class DocumentCountsSerializer(serializers.Serializer):
    document = serializers.UUIDField(allow_null=True)
    title = serializers.CharField(help_text=_("Blank once the document is deleted."))
    people = serializers.IntegerField()
    machines = serializers.IntegerField()


class CampaignDownloadsSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    people = serializers.IntegerField()
    machines = serializers.IntegerField()


class DailyDownloadsSerializer(serializers.Serializer):
    day = serializers.DateField()
    people = serializers.IntegerField()
    machines = serializers.IntegerField()


class DownloadStatsSerializer(serializers.Serializer):
    KEYS = ("downloads_by_people", "downloads_by_machines", "messages_downloaded",
            "messages_downloaded_by_people", "by_document", "by_campaign", "daily",
            "top_countries", "top_devices")

    downloads_by_people = serializers.IntegerField()
    downloads_by_machines = serializers.IntegerField()
    messages_downloaded = serializers.IntegerField()
    messages_downloaded_by_people = serializers.IntegerField()
    by_document = DocumentCountsSerializer(many=True)
    by_campaign = CampaignDownloadsSerializer(many=True)
    daily = DailyDownloadsSerializer(many=True)
    top_countries = serializers.ListField(child=serializers.ListField(), help_text=_(
        "[country, downloads] of people's downloads, most first."))
    top_devices = serializers.ListField(child=serializers.ListField(), help_text=_(
        "[device type, downloads] of people's downloads, most first."))
class EstimateSerializer(serializers.Serializer):
    """Messages opened by a person, with the readers Apple Mail Privacy Protection hides
    estimated (``reports.rates``): the estimate and its 90% interval."""

    value = serializers.IntegerField()
    low = serializers.IntegerField()
    high = serializers.IntegerField()
    method = serializers.CharField()
    level = serializers.FloatField(help_text=_("Confidence level of [low, high]: 0.9."))


class ImagesBlockedSerializer(serializers.Serializer):
    """Messages with a person's click and nothing loaded for a reader: images off."""

    count = serializers.IntegerField()
    rate = serializers.FloatField(help_text=_("Share of the messages sent (0 to 1)."))
    of_person_clicks = serializers.FloatField(
        help_text=_("Share of the messages clicked by a person (0 to 1)."))


class ImagesBlockedDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text=_("Sending day."))
    sent = serializers.IntegerField()
    count = serializers.IntegerField()
    rate = serializers.FloatField()


class ImagesBlockedCampaignSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    sent = serializers.IntegerField()
    count = serializers.IntegerField()
    rate = serializers.FloatField()


class CohortSerializer(serializers.Serializer):
    cohort = serializers.ChoiceField(choices=["hidden", "proxy", "direct", "none"])
    # A declared field (DRF's metaclass takes it off the class), not Field.label.
    label = serializers.CharField()  # type: ignore[assignment]
    sent = serializers.IntegerField()
    seen_opens = serializers.IntegerField(help_text=_("Messages whose pixel a person loaded."))
    person_clicks = serializers.IntegerField(
        help_text=_("Messages where a person acted on a link: clicked it, downloaded the "
                    "document it names, or visited the site it led to."))
    opened_by_person = serializers.IntegerField(help_text=_("Seen opens or person clicks."))
    estimated_opens = serializers.IntegerField(
        allow_null=True, help_text=_("Messages opened by a person, the hidden ones estimated; "
                                     "null below the minimum."))


class StatsSerializer(serializers.Serializer):
    """``reports.campaign_report``: the figures of the admin report page (schema only)."""

    filters = StatsFiltersSerializer()
    sent = serializers.IntegerField(help_text=_("Messages sent in the range."))
    opened_by_person = serializers.IntegerField()
    opened_any = serializers.IntegerField()
    clicked_by_person = serializers.IntegerField()
    clicked_any = serializers.IntegerField()
    open_rate_people = serializers.FloatField()
    open_rate_all = serializers.FloatField()
    click_rate = serializers.FloatField()
    click_to_open = serializers.FloatField()
    opens_by_source = SourceCountsSerializer()
    clicks_by_source = SourceCountsSerializer()
    daily = DailySerializer(many=True)
    proxy_share = SourceSharesSerializer()
    top_countries = CountrySerializer(many=True)
    top_devices = DeviceSerializer(many=True)
    top_mail_clients = MailClientSerializer(many=True)
    links = LinkStatsSerializer(many=True)
    downloads = DownloadStatsSerializer(help_text=_(
        "Downloads of tracked documents by the selected messages "
        "(django_leadpixel.reports.document_report)."))
    opened_by_people_estimate = EstimateSerializer(
        allow_null=True, help_text=_("Null below the minimum; the reason is then in "
                                     "opened_by_people_estimate_reason."))
    opened_by_people_estimate_reason = serializers.CharField(allow_null=True)
    images_blocked = ImagesBlockedSerializer(allow_null=True)
    images_blocked_reason = serializers.CharField(allow_null=True)
    images_blocked_daily = ImagesBlockedDaySerializer(many=True)
    images_blocked_by_campaign = ImagesBlockedCampaignSerializer(many=True)
    cohorts = CohortSerializer(many=True)


# ----------------------------------------------------------------------------- errors

class ErrorSerializer(serializers.Serializer):
    """``{"detail": "..."}``; validation errors map each parameter or field to messages."""

    detail = serializers.CharField()


def source_counts(rows) -> dict[str, int]:
    counts = dict.fromkeys(SOURCE_KEYS, 0)
    for row in rows:
        counts[row["source"] if row["source"] in counts else "unknown"] += row["n"]
    return counts
