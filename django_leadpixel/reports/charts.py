"""Server-side SVG charts for the admin report.

Drawn in Python and inlined in the page: no JavaScript, no CDN, nothing
fetched from the network (admin sites often run behind firewalls). Every
piece of text goes through ``format_html``, so a hostile campaign name or URL
can never become markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..sources import SOURCES

# One colour per source, the same in every chart; chosen to stay distinct for
# the common forms of colour blindness (Okabe-Ito palette).
COLOURS = {
    "human": "#0072B2",
    "google_proxy": "#E69F00",
    "yahoo_proxy": "#CC79A7",
    "apple_mpp": "#999999",
    "other_proxy": "#F0E442",
    "scanner": "#D55E00",
    "bot": "#000000",
    "unknown": "#56B4E9",
}
LABELS = dict(SOURCES)


def _num(value: float) -> str:
    # Coordinates with two decimals: short markup, no locale formatting.
    return f"{value:.2f}".rstrip("0").rstrip(".")


def legend(sources: Sequence[str]) -> SafeString:
    """An HTML legend (outside the SVG so it wraps and reads as text)."""
    items = format_html_join(
        "", '<li><span class="lp-swatch" style="background:{}"></span>{}</li>',
        ((COLOURS.get(s, "#777"), LABELS.get(s, s)) for s in sources),
    )
    return format_html('<ul class="lp-legend">{}</ul>', items)


def stacked_bars(days: Sequence[dict], key: str, *, title: str, width: int = 760,
                 height: int = 220) -> SafeString:
    """A bar per day, stacked by source, from ``report["daily"]`` and ``key`` ("opens"/"clicks").

    Each segment carries a ``<title>`` so hovering shows the exact figure.
    """
    pad_left, pad_bottom, pad_top = 40, 24, 10
    plot_w, plot_h = width - pad_left - 10, height - pad_bottom - pad_top
    totals = [sum(day[key].values()) for day in days]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(len(days), 1)
    bar_w = min(max(slot * 0.8, 1), 48)  # a few days must not look like walls
    parts: list[SafeString] = []
    # Axis: zero line and the peak value.
    parts.append(format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">0</text>',
        pad_left, pad_top + plot_h, pad_left + plot_w, pad_top + plot_h,
        pad_left - 4, pad_top + 8, peak, pad_left - 4, pad_top + plot_h,
    ))
    label_every = max(1, len(days) // 8)
    for i, day in enumerate(days):
        x = pad_left + i * slot + (slot - bar_w) / 2
        y = pad_top + plot_h
        for source, count in day[key].items():
            if not count:
                continue
            h = count / peak * plot_h
            y -= h
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{} · {}: {}</title></rect>",
                _num(x), _num(y), _num(bar_w), _num(h), COLOURS.get(source, "#777"),
                day["date"], LABELS.get(source, source), count,
            ))
        if i % label_every == 0:
            parts.append(format_html(
                '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
                _num(x + bar_w / 2), pad_top + plot_h + 14, day["date"][5:],
            ))
    if not days:
        parts.append(format_html(
            '<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>',
            width // 2, height // 2, "No events",
        ))
    return format_html(
        '<svg class="lp-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
        'height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        title, width, height, width, height, title, mark_safe("".join(parts)),
    )


def share_bars(shares: dict[str, float], *, title: str, width: int = 360) -> SafeString:
    """Horizontal bars, one per key, for fractions between 0 and 1."""
    row_h, label_w = 22, 190
    height = row_h * max(len(shares), 1) + 4
    bar_max = width - label_w - 50
    parts: list[SafeString] = []
    for i, (source, share) in enumerate(shares.items()):
        y = 2 + i * row_h
        parts.append(format_html(
            '<text x="0" y="{}" font-size="11">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="14" fill="{}"><title>{}: {}%</title></rect>'
            '<text x="{}" y="{}" font-size="11">{}%</text>',
            y + 12, LABELS.get(source, source),
            label_w, y + 2, _num(max(share, 0) * bar_max), COLOURS.get(source, "#777"),
            LABELS.get(source, source), _num(share * 100),
            _num(label_w + max(share, 0) * bar_max + 4), y + 12, _num(share * 100),
        ))
    return format_html(
        '<svg class="lp-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
        'height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        title, width, height, width, height, title, mark_safe("".join(parts)),
    )
