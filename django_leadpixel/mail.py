"""The sending side: a tracking email backend and ``instrument()``.

``EMAIL_BACKEND = "django_leadpixel.mail.TrackingBackend"`` wraps the backend
that really sends (``LEADPIXEL["EMAIL_BACKEND"]``, Django's SMTP backend by
default; console, locmem, django-anymail's ESP backends and django-post-office
work the same). For each HTML email it sends one copy per recipient (to, cc
and bcc, each copy addressed to that one recipient only, every other header
kept), each with its own ``Message``, pixel and tracked links.

``instrument(html, message)`` does the same to one HTML string, for senders
that build their MIME themselves. The HTML is read with the standard
library's tokenizer (``linkrewrite.start_tags``); the output is the input
byte for byte, except for the inserted pixel and the rewritten ``href``
values.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from django.utils.module_loading import import_string

from .conf import app_settings
from .linkrewrite import honeypot_link, pixel_img, rewrite_links
from .lint import ERROR, Finding, lint_html
from .models import Message, fit, normal_esp_id

logger = logging.getLogger("django_leadpixel.mail")

CAMPAIGN_HEADER = "X-Leadpixel-Campaign"
HTML = "text/html"


class LintFailed(Exception):
    """The email was not sent: ``LEADPIXEL["LINT_ON_SEND"] = "error"`` and the lint
    found errors (``findings``)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = "; ".join(f"{f.code}: {f.message}" for f in self.findings if f.severity == ERROR)
        super().__init__(f"leadpixel lint refused the email: {errors}")


def instrument(html: str, message: Message) -> str:
    """``html`` with ``message``'s pixel right after ``<body>`` (at the very start
    when there is no body tag) and its links rewritten as ``{% track_links %}``
    rewrites them (the same code: unsubscribe, ``mailto:`` and ``tel:`` links
    stay as they are). With ``LEADPIXEL["HONEYPOT_LINK"]`` the hidden link
    follows the pixel. ``message`` need not be saved.
    """
    consent = message.tracking_consent
    inserted = pixel_img(message.pixel_url())
    if app_settings.HONEYPOT_LINK:
        inserted += honeypot_link(message.public_id, consent=consent)
    return rewrite_links(html, message.public_id, consent=consent, honeypot=False,
                         after_body=inserted)


def is_html(email: EmailMessage) -> bool:
    """Whether the email has an HTML part the backend instruments."""
    if email.content_subtype == "html":
        return True
    return any(mimetype == HTML for _content, mimetype in getattr(email, "alternatives", ()))


def tracking_of(email: EmailMessage) -> dict[str, Any] | None:
    """What ``email`` asks of tracking: None when it opted out
    (``email.leadpixel = False``), else campaign, metadata and consent from
    ``email.leadpixel`` (a dict) and the ``X-Leadpixel-Campaign`` header."""
    asked = getattr(email, "leadpixel", None)
    if asked is False:
        return None
    asked = asked if isinstance(asked, dict) else {}
    header = next((str(value) for name, value in email.extra_headers.items()
                   if name.lower() == CAMPAIGN_HEADER.lower()), "")
    return {"campaign": str(asked.get("campaign") or header or ""),
            "metadata": dict(asked.get("metadata") or {}),
            "consent": bool(asked.get("consent", True))}


def strip_header(email: EmailMessage) -> None:
    email.extra_headers = {name: value for name, value in email.extra_headers.items()
                           if name.lower() != CAMPAIGN_HEADER.lower()}


def recipients_of(email: EmailMessage) -> list[tuple[str, str]]:
    """(field, address) for each distinct address of to, cc and bcc, in that order."""
    seen, out = set(), []
    for field in ("to", "cc", "bcc"):
        for address in getattr(email, field) or ():
            key = bare(address).lower()
            if key and key not in seen:
                seen.add(key)
                out.append((field, str(address)))
    return out


def bare(address: Any) -> str:
    """``ana@example.org`` of ``"Ana <ana@example.org>"``."""
    return (parseaddr(str(address))[1] or str(address)).strip()


def html_parts(email: EmailMessage) -> list[str]:
    parts = [str(email.body)] if email.content_subtype == "html" else []
    parts += [content for content, mimetype in getattr(email, "alternatives", ())
              if mimetype == HTML and isinstance(content, str)]
    return parts


def copy_for(email: EmailMessage, field: str, address: str, message: Message) -> EmailMessage:
    """A copy of ``email`` for one recipient, its HTML instrumented for ``message``."""
    one = copy.copy(email)
    one.to, one.cc, one.bcc = [], [], []
    setattr(one, field, [address])
    one.extra_headers = dict(email.extra_headers)
    if email.content_subtype == "html" and isinstance(email.body, str):
        one.body = instrument(email.body, message)
    if isinstance(email, EmailMultiAlternatives) and isinstance(one, EmailMultiAlternatives):
        alternatives: list[Any] = []
        for alternative in email.alternatives:
            content, mimetype = alternative
            if mimetype == HTML and isinstance(content, str):
                new = instrument(content, message)
                # Django 5.2's EmailAlternative is a named tuple; older ones are plain.
                replace = getattr(alternative, "_replace", None)
                alternative = replace(content=new) if replace else (new, mimetype)
            alternatives.append(alternative)
        one.alternatives = alternatives
    return one


def esp_message_id(email: EmailMessage, address: str) -> str:
    """The ESP's id of the copy sent to ``address`` (django-anymail's
    ``anymail_status``), or ""."""
    status = getattr(email, "anymail_status", None)
    if status is None:
        return ""
    per_recipient = (getattr(status, "recipients", None) or {}).get(address)
    value = getattr(per_recipient, "message_id", None)
    if value is None:
        value = getattr(status, "message_id", None)
    if isinstance(value, (set, frozenset, list, tuple)):
        value = next(iter(value), None) if len(value) == 1 else None
    return normal_esp_id(value)


def merge_anymail_status(email: EmailMessage, one: EmailMessage) -> None:
    """Add the per-recipient send status of copy ``one`` to ``email.anymail_status``
    (django-anymail's ``AnymailStatus``), so the caller sees every recipient's."""
    status = getattr(one, "anymail_status", None)
    if status is None or not hasattr(status, "set_recipient_status"):
        return
    merged = getattr(email, "anymail_status", None)
    if merged is None or merged is status or not hasattr(merged, "set_recipient_status"):
        merged = type(status)()
        email.anymail_status = merged  # type: ignore[attr-defined]
    merged.set_recipient_status(dict(status.recipients))
    merged.esp_response = getattr(status, "esp_response", None)


class TrackingBackend(BaseEmailBackend):
    """Instrument every HTML email, one copy and one ``Message`` per recipient, and
    send it through ``LEADPIXEL["EMAIL_BACKEND"]``.

    A copy that fails (the backend raises, or reports it did not send it with
    ``fail_silently``) has its ``Message`` deleted: no ``Message`` ever claims
    an email that was not sent. With ``fail_silently=False`` the error is
    raised and the copies after it are not sent (nor their messages created);
    the copies sent before it keep theirs. The messages of an email are on
    ``email.leadpixel_messages`` after the send; with django-anymail,
    ``email.anymail_status`` holds every copy's recipient status.
    """

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        backend = import_string(app_settings.EMAIL_BACKEND)
        if isinstance(backend, type) and issubclass(backend, TrackingBackend):
            raise ImproperlyConfigured(
                'LEADPIXEL["EMAIL_BACKEND"] is the backend that really sends (SMTP, an ESP): '
                "it cannot be TrackingBackend itself.")
        self.inner = backend(fail_silently=fail_silently, **kwargs)  # as get_connection() does

    def open(self):
        return self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        opened = self.inner.open()
        try:
            return sum(self.send_one(email) for email in email_messages)
        finally:
            if opened:
                self.inner.close()

    def send_one(self, email: EmailMessage) -> int:
        """Send one email: instrumented per recipient, or untouched (plain text,
        opted out, no recipient). Returns how many emails went out."""
        tracking = tracking_of(email)
        strip_header(email)
        recipients = recipients_of(email)
        if tracking is None or not is_html(email) or not recipients:
            return self.inner.send_messages([email]) or 0
        self.lint(email, tracking)
        email.leadpixel_messages = []  # type: ignore[attr-defined]
        sent = 0
        for field, address in recipients:
            message = Message.objects.create(**fit(Message, {
                "recipient": bare(address), "subject": str(email.subject or ""),
                "campaign": tracking["campaign"], "metadata": tracking["metadata"],
                "tracking_consent": tracking["consent"], "sent_at": timezone.now()}))
            one = copy_for(email, field, address, message)
            try:
                done = self.inner.send_messages([one]) or 0
            except BaseException:
                message.delete()
                raise
            if not done:
                message.delete()
                continue
            sent += done
            esp_id = esp_message_id(one, bare(address))
            if esp_id:
                message.esp_message_id = esp_id
                message.save(update_fields=["esp_message_id"])
            merge_anymail_status(email, one)
            email.leadpixel_messages.append(message)  # type: ignore[attr-defined]
        return sent

    def lint(self, email: EmailMessage, tracking: dict[str, Any]) -> None:
        """Lint the email as it will leave (instrumented for an unsaved message)."""
        mode = app_settings.LINT_ON_SEND
        if mode == "off":
            return
        sample = Message(recipient="lint@example.invalid", tracking_consent=tracking["consent"])
        findings = []
        for part in html_parts(email):
            findings += lint_html(instrument(part, sample), campaign=bool(tracking["campaign"]))
        errors = [f for f in findings if f.severity == ERROR]
        if errors and mode == "error":
            raise LintFailed(findings)
        for finding in findings:
            logger.warning("leadpixel lint %s (%s) in %r: %s", finding.code, finding.severity,
                           str(email.subject)[:80], finding.message)
