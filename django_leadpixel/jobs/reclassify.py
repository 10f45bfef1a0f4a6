"""Reclassification: every stored event judged again, each message whole."""

from __future__ import annotations

from collections.abc import Callable

from .. import history
from ..classify import Verdict, classify
from ..conf import app_settings
from ..models import CLASSIFIED_AS, ESP_METHOD, Click, Download, Event, Message, Open, ReportDirty, Visit
from .paging import EVENT_MODELS, iter_chunks


def reclassify(
    *, batch_size: int | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Classify every stored event again with the current rules and ranges.

    Each message is judged over all of its events at once, ``batch_size``
    messages at a time: its opens from their requests, then its clicks from
    their requests and the message's whole history (``history``), the same
    rules every other path applies, so a run changes no verdict those paths
    gave and a second run changes nothing. Works from what was stored: where
    ``ANONYMIZE_IP`` truncated an address, the range lookups see the
    truncated one (exact for ranges of /24 and wider); an anonymous event
    (no consent) keeps its verdict unless a burst convicts it. Events whose
    verdict changes lose their enrichment and are enriched again by the
    sweep, so a proxy never keeps a reader's place. Returns counts: ``seen``,
    ``changed``, ``anonymised`` (rows with a truncated or no address).
    """
    size = batch_size or app_settings.BATCH_SIZE
    totals = {"seen": 0, "changed": 0, "anonymised": 0}
    fields = ("id", "message_id", "occurred_at", "source", "reason", "operator", "method",
              "ip", "user_agent", "anonymous", "enriched_at")
    for messages in iter_chunks(Message.objects.only("pk", "sent_at"), size):
        sent_at = {message.pk: message.sent_at for message in messages}
        opens = list(Open.objects.filter(message_id__in=sent_at).only(*fields))
        clicks = list(Click.objects.filter(message_id__in=sent_at).only(
            *fields, "honeypot", "url"))
        downloads = list(Download.objects.filter(message_id__in=sent_at).only(*fields, "document_id"))
        visits = list(Visit.objects.filter(message_id__in=sent_at).only(*fields, "click_id"))
        changed = []
        for event in opens:
            if _rejudge(event, _request_verdict(event, "open")):
                changed.append(event)
        # Clicks and downloads (a click on a document's link) are judged together
        # with the message's history, which reads the opens as judged just now.
        judged = history.verdicts([*clicks, *downloads], opens, sent_at,
                                  base=lambda event: _request_verdict(event, history.kind_of(event)))
        for event in (*clicks, *downloads):
            if event.pk in judged and _rejudge(event, judged[event.pk]):
                changed.append(event)
        by_pk = {click.pk: click for click in clicks}
        for event in visits:  # a visit follows its click, as judged just now
            if _rejudge(event, history.visit_verdict(_request_verdict(event, "visit"),
                                                     by_pk.get(event.click_id))):
                changed.append(event)
        for event in (*opens, *clicks, *downloads, *visits):
            if not event.anonymous and (not event.ip or app_settings.ANONYMIZE_IP):
                totals["anonymised"] += 1
        for model in EVENT_MODELS:
            rows = [event for event in changed if type(event) is model]
            if rows:
                model.objects.bulk_update(rows, ["source", "reason", "operator", "enriched_at"])
        ReportDirty.objects.mark_messages_after_commit(event.message_id for event in changed)
        totals["seen"] += len(opens) + len(clicks) + len(downloads) + len(visits)
        totals["changed"] += len(changed)
        if progress:
            progress(len(opens) + len(clicks) + len(downloads) + len(visits))
    return totals


def _request_verdict(event: Event, kind: str) -> Verdict:
    """What an event's stored request shows; an anonymous event, and one an ESP reported
    (judged with the ESP's flags, not stored), keep their stored verdict."""
    if event.anonymous or event.method == ESP_METHOD:
        return Verdict(event.source, event.reason, event.operator)
    honeypot = event.honeypot if isinstance(event, Click) else False
    return classify(ip=event.ip, user_agent=event.user_agent, kind=CLASSIFIED_AS[kind],
                    method=event.method, honeypot=honeypot)


def _rejudge(event: Event, verdict: Verdict) -> bool:
    """Give ``event`` the verdict; True when anything stored changes."""
    source, reason, operator = verdict.source, verdict.reason[:255], verdict.operator
    if event.anonymous:
        reason, operator = event.reason, event.operator  # "no consent" stays the reason
    if (source, reason, operator) == (event.source, event.reason, event.operator):
        return False
    if source != event.source:
        event.enriched_at = None  # masked or not may change: enrich again
    event.source, event.reason, event.operator = source, reason, operator
    return True
