"""Server-side SVG charts for the admin report.

Drawn in Python and inlined in the page: no JavaScript, no CDN, nothing
fetched from the network (admin sites often run behind firewalls). Every
piece of text goes through ``format_html``, so a hostile campaign name or URL
can never become markup.
"""

from __future__ import annotations

import math
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
FALLBACK_COLOUR = "#777777"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a ``#rrggbb`` colour (0 black, 1 white)."""
    red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21 (AA text: 4.5)."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    return max(("#000000", "#ffffff"), key=lambda text: contrast_ratio(background, text))


def badge_style(source: str) -> str:
    """Inline CSS of a source's badge in the admin: the chart's colour, readable text."""
    background = COLOURS.get(source, FALLBACK_COLOUR)
    return (f"background:{background};color:{text_colour(background)};padding:1px 6px;"
            "border-radius:8px;font-size:11px;white-space:nowrap")


def nice_ticks(peak: float, count: int = 5) -> list[int]:
    """About ``count`` round gridline values from 0 to at least ``peak`` (steps of 1, 2
    or 5 times a power of ten; whole numbers for counts)."""
    if peak <= 0:
        return [0, 1]
    raw = peak / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(int(round(step)), 1)
    top = int(math.ceil(peak / step)) * step
    return [i * step for i in range(top // step + 1)]


def _num(value: float) -> str:
    # Coordinates with two decimals: short markup, no locale formatting.
    return f"{value:.2f}".rstrip("0").rstrip(".")


def legend(sources: Sequence[str]) -> SafeString:
    """An HTML legend (outside the SVG so it wraps and reads as text)."""
    items = format_html_join(
        "", '<li><span class="lp-swatch" style="background:{}"></span>{}</li>',
        ((COLOURS.get(s, FALLBACK_COLOUR), LABELS.get(s, s)) for s in sources),
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
    ticks = nice_ticks(max(totals, default=0))
    peak = ticks[-1]  # the top gridline: bars are drawn to its scale
    slot = plot_w / max(len(days), 1)
    bar_w = min(max(slot * 0.8, 1), 48)  # a few days must not look like walls
    parts: list[SafeString] = []
    # Y axis: a gridline with its value at each tick, the zero line darker.
    for tick in ticks:
        y = pad_top + plot_h - tick / peak * plot_h
        parts.append(format_html(
            '<line class="lp-grid" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
            '<text class="lp-tick" x="{}" y="{}" font-size="10" text-anchor="end">{}</text>',
            pad_left, _num(y), pad_left + plot_w, _num(y), "#888" if tick == 0 else "#ddd",
            pad_left - 4, _num(y + 3), f"{tick:g}",
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
                _num(x), _num(y), _num(bar_w), _num(h), COLOURS.get(source, FALLBACK_COLOUR),
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
            label_w, y + 2, _num(max(share, 0) * bar_max), COLOURS.get(source, FALLBACK_COLOUR),
            LABELS.get(source, source), _num(share * 100),
            _num(label_w + max(share, 0) * bar_max + 4), y + 12, _num(share * 100),
        ))
    return format_html(
        '<svg class="lp-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
        'height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        title, width, height, width, height, title, mark_safe("".join(parts)),
    )
