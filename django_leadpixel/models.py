"""Messages and their append-only open and click events.

Per-message figures are never stored on the message: they are derived with
indexed queries (``MessageQuerySet.with_stats``), so concurrent opens of one
message never fight over a row.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Count, Exists, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import tokens
from .classify import SOURCES

SOURCE_LABELS = dict(SOURCES)

# Sources that show a person opened the mail. Gmail's, Yahoo's and the other
# open-time image proxies fetch the pixel when the reader opens the message, so
# they prove an open by a person (but never where or on what device). Apple
# Mail Privacy Protection prefetches on delivery, scanners and bots are
# machines with no reader behind them.
PERSON_SOURCES = ("human", "google_proxy", "yahoo_proxy", "other_proxy")
PROXY_SOURCES = ("google_proxy", "yahoo_proxy", "apple_mpp", "other_proxy")
MACHINE_SOURCES = ("apple_mpp", "scanner", "bot")


class Status(models.TextChoices):
    PERSON = "person", _("Opened by a person")
    MACHINE = "machine", _("Only machines")
    UNOPENED = "unopened", _("Not opened")


def _count(model: type[models.Model], **filters) -> Subquery:
    rows = (
        model.objects.filter(message=OuterRef("pk"), **filters)
        .order_by()
        .values("message")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=models.IntegerField()), 0)


def _first(model: type[models.Model], **filters) -> Subquery:
    rows = (
        model.objects.filter(message=OuterRef("pk"), **filters)
        .order_by()
        .values("message")
        .annotate(t=Min("occurred_at"))
        .values("t")
    )
    return Subquery(rows, output_field=models.DateTimeField())


class MessageQuerySet(models.QuerySet):
    def with_stats(self) -> MessageQuerySet:
        """Annotate the message-level truth, one correlated subquery per figure.

        Subqueries (not joins) keep counts exact and each is served by the
        ``(message, occurred_at)`` / ``(message, source)`` indexes.
        """
        return self.annotate(
            first_open=_first(Open),
            first_human_open=Coalesce(
                _first(Open, source__in=PERSON_SOURCES), _first(Click, source="human")
            ),
            opens_total=_count(Open),
            human_opens=_count(Open, source__in=PERSON_SOURCES),
            machine_opens=_count(Open, source__in=MACHINE_SOURCES),
            google_proxy_opens=_count(Open, source="google_proxy"),
            clicks_total=_count(Click),
            human_clicks=_count(Click, source="human"),
            scanner_clicks=_count(Click, source__in=("scanner", "bot")),
        )

    def with_status(self) -> MessageQuerySet:
        person = Exists(Open.objects.filter(message=OuterRef("pk"), source__in=PERSON_SOURCES))
        human_click = Exists(Click.objects.filter(message=OuterRef("pk"), source="human"))
        any_open = Exists(Open.objects.filter(message=OuterRef("pk")))
        any_click = Exists(Click.objects.filter(message=OuterRef("pk")))
        return self.annotate(
            status=models.Case(
                models.When(person | human_click, then=models.Value(Status.PERSON)),
                models.When(any_open | any_click, then=models.Value(Status.MACHINE)),
                default=models.Value(Status.UNOPENED),
                output_field=models.CharField(),
            )
        )

    def opened_via(self, source: str) -> MessageQuerySet:
        return self.filter(Exists(Open.objects.filter(message=OuterRef("pk"), source=source)))


class Message(models.Model):
    """One email sent to one recipient."""

    public_id = models.UUIDField(
        _("public id"), default=uuid.uuid4, unique=True, editable=False,
        help_text=_("Random identifier used in tracking URLs; database ids never appear there."),
    )
    recipient = models.EmailField(_("recipient"), max_length=254, db_index=True)
    # RFC 5322 allows 998 characters per header line.
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    tracking_consent = models.BooleanField(
        _("tracking consent"), default=True,
        help_text=_("Without consent, opens and clicks are stored anonymously: time and "
                    "source class only, no IP, user agent, place or device."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-sent_at"]
        indexes = [
            models.Index(fields=["sent_at"], name="leadpixel_msg_sent"),
            models.Index(fields=["campaign", "sent_at"], name="leadpixel_msg_campaign_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.subject or _('(no subject)')} → {self.recipient}"

    def pixel_url(self) -> str:
        """Absolute URL of this message's tracking pixel."""
        return tokens.pixel_url(self.public_id)

    def tracked_url(self, destination: str, position: int = 0) -> str:
        """Absolute signed click URL that records a click and redirects to ``destination``.

        Raises ``tokens.UnsafeDestination`` unless ``destination`` is an absolute
        http(s) URL.
        """
        return tokens.click_url(self.public_id, destination, position)


class Event(models.Model):
    """Fields shared by opens and clicks. Rows are append-only, ids made in the request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="%(class)ss",
                                verbose_name=_("message"))
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    source = models.CharField(_("source"), max_length=16, choices=SOURCES, default="unknown")
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    operator = models.CharField(_("operator"), max_length=64, blank=True,
                                help_text=_("Who runs the proxy or scanner, when known."))
    method = models.CharField(_("method"), max_length=8, default="GET")
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True)
    anonymous = models.BooleanField(
        _("anonymous"), default=False,
        help_text=_("Stored without tracking consent: time and source only."),
    )
    # Enrichment, filled later by a Celery task (enriched_at is None until then).
    enriched_at = models.DateTimeField(_("enriched at"), null=True, blank=True)
    masked = models.BooleanField(
        _("masked by proxy"), default=False,
        help_text=_("Place and device are hidden by a proxy or belong to a machine."),
    )
    geo_status = models.CharField(_("geo status"), max_length=16, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    accuracy_radius = models.PositiveIntegerField(_("accuracy radius (km)"), null=True, blank=True)
    asn = models.PositiveBigIntegerField(_("ASN"), null=True, blank=True)
    as_org = models.CharField(_("network"), max_length=200, blank=True)
    device_type = models.CharField(_("device type"), max_length=16, blank=True)
    os = models.CharField(_("OS"), max_length=64, blank=True)
    os_version = models.CharField(_("OS version"), max_length=32, blank=True)
    browser = models.CharField(_("browser"), max_length=64, blank=True)
    browser_version = models.CharField(_("browser version"), max_length=32, blank=True)
    mail_client = models.CharField(_("mail client"), max_length=64, blank=True)

    class Meta:
        abstract = True
        ordering = ["-occurred_at"]

    @property
    def source_label(self) -> str:
        return str(SOURCE_LABELS.get(self.source, self.source))


class Open(Event):
    class Meta(Event.Meta):
        verbose_name = _("open")
        verbose_name_plural = _("opens")
        indexes = [
            models.Index(fields=["message", "occurred_at"], name="leadpixel_open_msg_time"),
            models.Index(fields=["message", "source"], name="leadpixel_open_msg_source"),
            models.Index(fields=["occurred_at"], name="leadpixel_open_time"),
            models.Index(fields=["source", "occurred_at"], name="leadpixel_open_source_time"),
            models.Index(fields=["occurred_at"], condition=Q(enriched_at__isnull=True),
                         name="leadpixel_open_unenriched"),
        ]

    def __str__(self) -> str:
        return f"open of {self.message_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Click(Event):
    # Without the single-column message_id index Django gives a foreign key:
    # (message, occurred_at) and (message, source) below serve every lookup by
    # message, and at a million events no query was slower without it. Opens
    # keep theirs: PostgreSQL prefers it there (docs/indexes.md).
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="clicks",
                                verbose_name=_("message"), db_index=False)
    url = models.TextField(_("destination"))
    position = models.PositiveIntegerField(_("link position"), default=0,
                                           help_text=_("Order of the link in the message."))
    honeypot = models.BooleanField(_("honeypot link"), default=False)

    class Meta(Event.Meta):
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        indexes = [
            models.Index(fields=["message", "occurred_at"], name="leadpixel_click_msg_time"),
            models.Index(fields=["message", "source"], name="leadpixel_click_msg_source"),
            models.Index(fields=["occurred_at"], name="leadpixel_click_time"),
            models.Index(fields=["source", "occurred_at"], name="leadpixel_click_source_time"),
            models.Index(fields=["occurred_at"], condition=Q(enriched_at__isnull=True),
                         name="leadpixel_click_unenriched"),
        ]

    def __str__(self) -> str:
        return f"click of {self.message_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


# An event's kind ("open" or "click", as hits, tokens and tasks name it) and its
# model; the other way round it is ``event._meta.model_name``.
KINDS: dict[str, type[Event]] = {"open": Open, "click": Click}


class ReportCell(models.Model):
    """The report figures of one campaign's messages sent on one day (``rollup.py``).

    ``data`` is ``reports.partial`` of those messages. ``sent`` and
    ``id_sum`` (the sum of their ids) tell whether the cell still holds the
    same messages: one created, deleted or moved to another campaign or day
    changes them. Days are in the default time zone (``settings.TIME_ZONE``).
    """

    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    day = models.DateField(_("sending day"))
    sent = models.PositiveIntegerField(_("sent"))
    id_sum = models.DecimalField(_("sum of message ids"), max_digits=30, decimal_places=0)
    data = models.JSONField(_("figures"))
    built_at = models.DateTimeField(_("built at"))

    class Meta:
        verbose_name = _("report cell")
        verbose_name_plural = _("report cells")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day"], name="leadpixel_cell_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign or '-'} {self.day}"


class ReportDirty(models.Model):
    """A cell whose events changed since it was built: appended by writers, never updated.

    Insert-only, so writers never wait on each other or on the rebuild; the
    rebuild deletes the markers it has dealt with.
    """

    id = models.BigAutoField(primary_key=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    day = models.DateField(_("sending day"))

    class Meta:
        verbose_name = _("stale report cell")
        verbose_name_plural = _("stale report cells")
        indexes = [models.Index(fields=["campaign", "day"], name="leadpixel_dirty_cell")]

    def __str__(self) -> str:
        return f"{self.campaign or '-'} {self.day}"
