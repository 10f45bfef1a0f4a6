"""Messages and their append-only open and click events.

Per-message figures are never stored on the message: they are derived with
indexed queries (``MessageQuerySet.with_stats``), so concurrent opens of one
message never fight over a row.
"""

from __future__ import annotations

import datetime
import functools
import logging
import mimetypes
import operator
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_permission_codename
from django.db import DatabaseError, models, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import tokens
from .sources import (
    MACHINE_SOURCES,
    PERSON_SOURCES,
    PROXY_SOURCES,
    SCANNER_CLICK_SOURCES,
    SOURCES,
)

SOURCE_LABELS = dict(SOURCES)
__all__ = ["Message", "Open", "Click", "Document", "Download", "Disposition", "Visit", "Lead",
           "LEAD_WEIGHTS", "Status", "KINDS", "EventModel", "KIND_FIELDS", "REPEAT_KEYS", "CLASSIFIED_AS",
           "CONSENT_ONLY", "STAT_COUNTS", "ACTED_ON_LINK", "person_filter", "person_events", "person_sources",
           "can_view", "can_view_events", "PERSON_SOURCES", "PROXY_SOURCES", "MACHINE_SOURCES",
           "SOURCE_LABELS", "ReportCell", "ReportDirty", "fit", "report_key"]

logger = logging.getLogger("django_leadpixel")


class Status(models.TextChoices):
    PERSON = "person", _("Opened by a person")
    MACHINE = "machine", _("Only machines")
    UNOPENED = "unopened", _("Not opened")


def _count(model: EventModel, **filters: Any) -> Coalesce:
    rows = (
        model.objects.filter(message=OuterRef("pk"), **filters)
        .order_by()
        .values("message")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=models.IntegerField()), 0)


def _first(model: EventModel, *conditions: Q) -> Subquery:
    rows = (
        model.objects.filter(*conditions, message=OuterRef("pk"))
        .order_by()
        .values("message")
        .annotate(t=Min("occurred_at"))
        .values("t")
    )
    return Subquery(rows, output_field=models.DateTimeField())


class MessageQuerySet(models.QuerySet):
    def with_stats(self) -> MessageQuerySet:
        """Annotate the message-level truth, one correlated subquery per figure:
        ``first_open``, ``first_human_open`` and the counts of ``STAT_COUNTS``.

        Subqueries (not joins) keep counts exact and each is served by the
        ``(message, occurred_at)`` / ``(message, source)`` indexes.
        """
        return self.annotate(
            first_open=_first(Open),
            # A person's first open, else their first event of another kind (which
            # proves the message was opened too: person_filter).
            first_human_open=Coalesce(*(_first(model, person_filter(kind))
                                        for kind, model in KINDS.items())),
            **{name: _count(model, **filters) for name, (model, filters) in STAT_COUNTS.items()},
        )

    def with_status(self) -> MessageQuerySet:
        # A person's event of any kind proves the message was opened (person_events).
        person = functools.reduce(operator.or_, (
            Exists(person_events(kind).filter(message=OuterRef("pk"))) for kind in KINDS))
        any_event = functools.reduce(operator.or_, (
            Exists(model.objects.filter(message=OuterRef("pk"))) for model in KINDS.values()))
        return self.annotate(
            status=models.Case(
                models.When(person, then=models.Value(Status.PERSON)),
                models.When(any_event, then=models.Value(Status.MACHINE)),
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
    # The ESP's id of the sent email (django-anymail's ``anymail_status.message_id``),
    # set by ``mail.TrackingBackend``; ESP opens and clicks find their message by it.
    esp_message_id = models.CharField(_("ESP message id"), max_length=255, blank=True,
                                      db_index=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-sent_at"]
        indexes = [
            models.Index(fields=["sent_at"], name="leadpixel_msg_sent"),
            models.Index(fields=["campaign", "sent_at"], name="leadpixel_msg_campaign_sent"),
            # A lead is a recipient address whatever its case (reports.leads).
            models.Index(Lower("recipient"), name="leadpixel_msg_recipient_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.subject or _('(no subject)')} → {self.recipient}"

    def pixel_url(self) -> str:
        """Absolute URL of this message's tracking pixel."""
        return tokens.pixel_url(self.public_id, consent=self.tracking_consent)

    def tracked_url(self, destination: str, position: int = 0) -> str:
        """Absolute signed click URL that records a click and redirects to ``destination``.

        Raises ``tokens.UnsafeDestination`` unless ``destination`` is an absolute
        http(s) URL, and ``tokens.DestinationTooLong`` (a subclass) when it is too
        long for a tracking URL to carry.
        """
        return tokens.click_url(self.public_id, destination, position,
                                consent=self.tracking_consent)

    def image_url(self, path: str, *, alt: str = "", name: str = "") -> str:
        """Absolute URL of a tracked image: ``path`` served from the image roots, the
        URL ending in a slug of ``name`` (or ``alt``) and the real extension. Loading
        it records an ``Open`` naming the image. ``tokens.BadToken`` for a path that
        could never be served (absolute, ``..``, not an image extension)."""
        return tokens.image_url(self.public_id, path, name=name, alt=alt,
                                consent=self.tracking_consent)

    def download_url(self, document: Document) -> str:
        """Absolute signed URL of ``document`` for this message: ``/t/d/<token>/<slug>.<ext>``.
        Fetching it records a ``Download``."""
        return tokens.download_url(self.public_id, document.public_id, document.slug or document.title,
                                   document.extension, consent=self.tracking_consent)


class EventQuerySet(models.QuerySet):
    def unenriched(self) -> EventQuerySet:
        """Events no enrichment has written yet (served by the partial index)."""
        return self.filter(enriched_at__isnull=True)

    def of_messages(self, message_ids: Iterable[Any]) -> EventQuerySet:
        return self.filter(message_id__in=message_ids)


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
    repeats = models.PositiveIntegerField(
        _("repeats"), default=0,
        help_text=_("Identical hits counted on this event instead of stored again "
                    "(LEADPIXEL['REPEAT_WINDOW'])."),
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

    objects = EventQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-occurred_at"]

    @property
    def source_label(self) -> str:
        return str(SOURCE_LABELS.get(self.source, self.source))


class Open(Event):
    image = models.CharField(
        _("image"), max_length=255, blank=True,
        help_text=_("The tracked image that was loaded (its path in the image roots); "
                    "blank for the pixel."),
    )

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


class Disposition(models.TextChoices):
    ATTACHMENT = "attachment", _("Download (attachment)")
    INLINE = "inline", _("Show in the browser (inline)")


class Document(models.Model):
    """A file readers download through a tracked link: in Django storage, or at a URL."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, blank=True,
                            help_text=_("The descriptive name in the URL (from the title when blank)."))
    file = models.FileField(_("file"), upload_to="leadpixel/documents/%Y/%m/", max_length=255,
                            blank=True)
    url = models.URLField(_("external URL"), max_length=2000, blank=True,
                          help_text=_("Redirect here instead of serving a file."))
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    disposition = models.CharField(_("disposition"), max_length=10, choices=Disposition.choices,
                                   default=Disposition.ATTACHMENT)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def filename(self) -> str:
        """The name readers save it as: the slug and the file's extension."""
        ext = self.extension
        return f"{self.slug or tokens.slug(self.title)}.{ext}" if ext else (self.slug or "file")

    @property
    def extension(self) -> str:
        source = self.file.name if self.file else urlsplit_path(self.url)
        return tokens.extension(source or "")

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = tokens.slug(self.title, fallback="document")
        if self.file:
            if not self.content_type or getattr(self.file, "_committed", True) is False:
                guessed, _encoding = mimetypes.guess_type(self.file.name or "")
                self.content_type = guessed or "application/octet-stream"
            try:
                self.size = self.file.size
            except (OSError, ValueError):
                self.size = None
        elif self.url and not self.content_type:
            self.content_type = mimetypes.guess_type(urlsplit_path(self.url))[0] or ""
        super().save(*args, **kwargs)


def urlsplit_path(url: str) -> str:
    return urlsplit(url or "").path


class Download(Event):
    """One fetch of a tracked document (the first byte range of it: continuations of
    a download are not stored again)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="downloads",
                                verbose_name=_("message"), db_index=False)
    # The document's public id, as the token carries it: the event outlives the
    # document (a deleted document answers 410 and is still recorded).
    document = models.ForeignKey(Document, on_delete=models.DO_NOTHING, to_field="public_id",
                                 db_constraint=False, null=True, blank=True,
                                 related_name="downloads", verbose_name=_("document"))

    class Meta(Event.Meta):
        verbose_name = _("download")
        verbose_name_plural = _("downloads")
        indexes = [
            models.Index(fields=["message", "occurred_at"], name="leadpixel_dl_msg_time"),
            models.Index(fields=["message", "source"], name="leadpixel_dl_msg_source"),
            models.Index(fields=["occurred_at"], name="leadpixel_dl_time"),
            models.Index(fields=["source", "occurred_at"], name="leadpixel_dl_source_time"),
            models.Index(fields=["occurred_at"], condition=Q(enriched_at__isnull=True),
                         name="leadpixel_dl_unenriched"),
        ]

    def __str__(self) -> str:
        return f"download of {self.message_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Visit(Event):
    """A page view on the sender's own site by the reader of a message (a click's
    visitor value, kept in a first-party cookie by ``middleware.VisitMiddleware`` or
    reported to the beacon). Stored only with tracking consent."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="visits",
                                verbose_name=_("message"), db_index=False)
    click_id = models.UUIDField(_("click"), null=True, blank=True,
                                help_text=_("The click that brought the visitor."))
    path = models.TextField(_("page"))
    referrer_host = models.CharField(_("referrer host"), max_length=255, blank=True)

    class Meta(Event.Meta):
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["message", "occurred_at"], name="leadpixel_visit_msg_time"),
            # A click convicted after its visits were stored convicts them (history).
            models.Index(fields=["click_id"], name="leadpixel_visit_click"),
            models.Index(fields=["message", "source"], name="leadpixel_visit_msg_source"),
            models.Index(fields=["occurred_at"], name="leadpixel_visit_time"),
            models.Index(fields=["source", "occurred_at"], name="leadpixel_visit_source_time"),
            models.Index(fields=["occurred_at"], condition=Q(enriched_at__isnull=True),
                         name="leadpixel_visit_unenriched"),
        ]

    def __str__(self) -> str:
        return f"visit of {self.message_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


EventModel = type[Open] | type[Click] | type[Download] | type[Visit]

# The registries of event kinds: every table-driven path (hits, ingest, enrich,
# retention, erase, the lead) reads these, so a new kind is a model and a line in each.
#
# An event's kind ("open", "click", "download", "visit", as hits, tokens and tasks
# name it) and its model; the other way round it is ``event._meta.model_name``.
KINDS: dict[str, EventModel] = {"open": Open, "click": Click, "download": Download, "visit": Visit}
# Fields a hit of the kind carries besides the common ones (the spool line, the
# stored row; ``ingest.hits.Hit`` has an attribute of each name).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "open": ("image",), "click": ("url", "position", "honeypot"), "download": ("document_id",),
    "visit": ("path", "referrer_host", "click_id"),
}
# What each kind adds to ``sql.REPEAT_FIELDS`` (address, agent, method) to tell one
# hit from another.
REPEAT_KEYS: dict[str, tuple[str, ...]] = {"open": ("image",), "click": ("url",),
                                           "download": ("document_id",), "visit": ("path",)}
# The rules each kind is judged by: scanners fetch links and files alike, and a page
# view is a browser's navigation.
CLASSIFIED_AS: dict[str, str] = {"open": "open", "click": "click", "download": "click",
                                 "visit": "click"}
# Kinds stored only for messages with tracking consent (never anonymously).
CONSENT_ONLY: frozenset[str] = frozenset({"visit"})


# The events of a person, by the rules a kind is judged by (``CLASSIFIED_AS``): an
# open through a reader's image proxy is the reader's; a click, download or visit is
# a person's own only when it came from their browser.
PERSON_SOURCES_BY_RULES: dict[str, tuple[str, ...]] = {"open": PERSON_SOURCES, "click": ("human",)}
PERSON_FILTERS: dict[str, dict[str, Any]] = {rules: {"source__in": sources}
                                             for rules, sources in PERSON_SOURCES_BY_RULES.items()}
# Scanners and bots fetch links and files alike.
SCANNER_FILTERS: dict[str, dict[str, Any]] = {"click": {"source__in": SCANNER_CLICK_SOURCES}}
# The kinds judged as clicks: a person's event of one of them shows that person acted on
# a link of the message (followed it, fetched the document it names, or browsed the
# site it led to).
ACTED_ON_LINK: tuple[str, ...] = tuple(kind for kind, rules in CLASSIFIED_AS.items()
                                       if rules == "click")


def person_filter(kind: str) -> Q:
    """What makes an event of ``kind`` a person's (``PERSON_FILTERS``). A person's event
    of any kind proves the message was opened: the one rule the message status
    (``with_status``), the report's figures and its honest rates share."""
    return Q(**PERSON_FILTERS[CLASSIFIED_AS[kind]])


def person_sources(kind: str) -> tuple[str, ...]:
    """The sources of a person's event of ``kind`` (``person_filter`` as values)."""
    return PERSON_SOURCES_BY_RULES[CLASSIFIED_AS[kind]]


def person_events(kind: str) -> EventQuerySet:
    """The events of ``kind`` a person made (``person_filter``)."""
    return KINDS[kind].objects.filter(person_filter(kind))


def _kind_counts() -> dict[str, tuple[EventModel, dict[str, Any]]]:
    counts: dict[str, tuple[EventModel, dict[str, Any]]] = {}
    for kind, model in KINDS.items():
        rules = CLASSIFIED_AS[kind]
        counts[f"{kind}s_total"] = (model, {})
        counts[f"human_{kind}s"] = (model, PERSON_FILTERS[rules])
        if rules in SCANNER_FILTERS:
            counts[f"scanner_{kind}s"] = (model, SCANNER_FILTERS[rules])
    return counts


# The counts ``MessageQuerySet.with_stats`` annotates: figure name -> (model, filter).
# Per kind ``<kind>s_total`` and ``human_<kind>s``, and ``scanner_<kind>s`` for the
# kinds judged as clicks; opens also tell the machines and Google's proxy apart.
STAT_COUNTS: dict[str, tuple[EventModel, dict[str, Any]]] = {
    **_kind_counts(),
    "machine_opens": (Open, {"source__in": MACHINE_SOURCES}),
    "google_proxy_opens": (Open, {"source": "google_proxy"}),
}


def can_view(user: Any, model: type[models.Model]) -> bool:
    """The admin's rule for reading ``model``: its view or its change permission."""
    opts = model._meta
    return any(user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
               for action in ("view", "change"))


def can_view_events(user: Any) -> bool:
    """Whether ``user`` may see a message's or a lead's events: ``can_view`` of every
    kind in ``KINDS``. Each event carries the reader's place and device, and the
    timelines, the events CSV and the API's event lists show every kind side by side:
    all of the permissions, or nothing."""
    return all(can_view(user, model) for model in KINDS.values())


def fit(model: type[models.Model], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every text cut to its column's ``max_length``: the one place
    that cuts what GeoIP databases and user agents give to the columns."""
    limits = _text_limits(model)
    return {name: value[:limits[name]] if name in limits and isinstance(value, str) else value
            for name, value in values.items()}


@functools.cache
def _text_limits(model: type[models.Model]) -> dict[str, int]:
    return {f.name: f.max_length for f in model._meta.concrete_fields
            if isinstance(f, models.CharField) and f.max_length}


# --- the lead: one recipient address across its messages ---------------------------

# Points per event of a person, by kind, in the engagement score (reports.leads).
LEAD_WEIGHTS: dict[str, int] = {"open": 1, "click": 3, "visit": 2, "download": 3}


class Lead(models.Model):
    """One recipient address (lowercased) across all its messages: a read-only row of
    the ``leadpixel_lead`` database view, which ``reports.leads`` (re)creates after
    each ``migrate`` from ``KINDS``, so every event kind has its count.

    Counts are of a person's events only (``PERSON_SOURCES``: machines, Apple's
    prefetch and scanners excluded); ``score`` is documented in ``reports.leads``.
    """

    email = models.CharField(_("email"), max_length=254, primary_key=True)
    messages = models.PositiveIntegerField(_("messages sent"))
    opened = models.PositiveIntegerField(_("opened by a person"),
                                         help_text=_("Messages opened by a person."))
    first_seen = models.DateTimeField(_("first seen"), null=True)
    last_seen = models.DateTimeField(_("last seen"), null=True)
    last_sent = models.DateTimeField(_("last sent"))
    score = models.FloatField(_("engagement score"))

    class Meta:
        managed = False
        db_table = "leadpixel_lead"
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-score", "email"]

    def __str__(self) -> str:
        return self.email


# One count per event kind: "opens", "clicks", "visits", ...
for _kind, _model in KINDS.items():
    models.PositiveIntegerField(
        _model._meta.verbose_name_plural, default=0,
        help_text=_("Events of a person.")).contribute_to_class(Lead, f"{_kind}s")
del _kind, _model


# --- the report rollup's cells and their markers ------------------------------------
# The figures per (campaign, sending day) are built by ``reports.rollup``; every
# writer of events marks the cells it changed (``ReportDirty.objects``).

ReportKey = tuple[str, datetime.date]


def report_key(campaign: str, sent_at: datetime.datetime) -> ReportKey:
    """The rollup cell of a message: its campaign and its sending day (default time zone).

    A moment whose day Python has no date for in that zone (9999-12-31 at UTC+14)
    counts on the last (or first) day Python has, as the rollup groups it.
    """
    try:
        day = timezone.localtime(sent_at, timezone.get_default_timezone()).date() \
            if timezone.is_aware(sent_at) else sent_at.date()
    except OverflowError:
        day = datetime.date.max if sent_at.year > 1 else datetime.date.min
    return campaign, day


def _new_token() -> str:
    return uuid.uuid4().hex


class ReportCellQuerySet(models.QuerySet):
    def in_use(self) -> bool:
        """Whether any cell was built: until then (or after a clear) nothing is marked."""
        return self.exists()


class ReportDirtyManager(models.Manager):
    def keys_of_messages(self, message_ids: Iterable[int]) -> set[ReportKey]:
        ids = list(set(message_ids))
        keys: set[ReportKey] = set()
        for start in range(0, len(ids), 1000):
            rows = Message.objects.filter(pk__in=ids[start:start + 1000]).order_by() \
                .values_list("campaign", "sent_at")
            keys.update(report_key(campaign, sent_at) for campaign, sent_at in rows)
        return keys

    def in_use(self) -> bool:
        """Whether writers mark cells: once a cell was built, or a first build began."""
        return ReportCell.objects.in_use() or self.exists()

    def mark(self, keys: Iterable[ReportKey], *, force: bool = False) -> None:
        """Mark each cell out of date: one marker per cell, whatever the writers.

        A marker is upserted with a new ``token``; a rebuild deletes it only if
        its token is still the one it read before building, so a cell marked
        again meanwhile stays marked. Nothing is written while the rollup is
        not in use (``force``: the first build marks every cell before it
        starts), so markers do not pile up in projects that never build it.
        """
        keys = set(keys)
        if keys and (force or self.in_use()):
            self.bulk_create([self.model(campaign=c, day=d, token=uuid.uuid4().hex)
                              for c, d in sorted(keys)],
                             update_conflicts=True, unique_fields=["campaign", "day"],
                             update_fields=["token"])

    def mark_messages(self, message_ids: Iterable[int]) -> None:
        """Mark the cells of these messages now; a database error is logged, not raised
        (the data is committed, only the rollup would lag: ``leadpixel_rollup --rebuild``)."""
        ids = set(message_ids)
        try:
            if ids and self.in_use():
                self.mark(self.keys_of_messages(ids))
        except DatabaseError:
            logger.exception("leadpixel: could not mark %d messages' report cells", len(ids))

    def mark_messages_after_commit(self, message_ids: Iterable[int]) -> None:
        """Mark the cells of these messages once the current transaction commits."""
        ids = set(message_ids)
        if ids:
            transaction.on_commit(lambda: self.mark_messages(ids))


class ReportCell(models.Model):
    """The report figures of one campaign's messages sent on one day (``reports.rollup``).

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

    objects = ReportCellQuerySet.as_manager()

    class Meta:
        verbose_name = _("report cell")
        verbose_name_plural = _("report cells")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day"], name="leadpixel_cell_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign or '-'} {self.day}"


class ReportDirty(models.Model):
    """A cell whose events changed since it was built: at most one marker per cell.

    Writers upsert it with a new ``token``; the rebuild deletes the markers it
    has dealt with whose token has not changed since it read them.
    """

    id = models.BigAutoField(primary_key=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    day = models.DateField(_("sending day"))
    token = models.CharField(_("token"), max_length=32, default=_new_token)

    objects = ReportDirtyManager()

    class Meta:
        verbose_name = _("stale report cell")
        verbose_name_plural = _("stale report cells")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day"], name="leadpixel_dirty_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign or '-'} {self.day}"


# ``Event.method`` of the opens and clicks an ESP reported (django-anymail; ingest.esp):
# their verdict came from the ESP's own flags, which are not stored, so reclassification
# keeps it.
ESP_METHOD = "ESP"


def normal_esp_id(value: Any) -> str:
    """An ESP's message id as ``Message.esp_message_id`` stores it and ESP events look it
    up: text, without the angle brackets of a Message-ID header (``""`` for None)."""
    return "" if value is None else str(value).strip().strip("<>").strip()[:255]
