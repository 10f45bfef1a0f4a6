"""``lint.lint_html``: every code with a case that finds it and one that does not;
``leadpixel_lint``'s exit status; the README's table of codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given, settings
from hypothesis import strategies as st

from django_leadpixel.lint import CLIP_BYTES, CODES, ERROR, WARNING, lint_html
from django_leadpixel.mail import instrument
from django_leadpixel.models import Message

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "fixtures" / "email"
GOOD_IMAGE = '<img src="https://cdn.example.com/autumn-collection-coats.jpg" alt="Three wool coats">'
UNSUBSCRIBE = '<a href="https://example.com/unsubscribe?u=1">Unsubscribe</a>'


def doc(inner: str, message) -> str:
    """A document around ``inner``: pixel after <body>, links tracked (as instrument() does)."""
    return instrument(f"<html><body>{inner}{UNSUBSCRIBE}</body></html>", message)


def codes(html: str, **kwargs) -> list[str]:
    return [f.code for f in lint_html(html, **kwargs)]


def test_clean_email_has_no_findings(message):
    html = doc(GOOD_IMAGE + '<a href="https://example.com/offer">Offer</a>', message)
    assert lint_html(html, campaign=True) == []


def test_pixel_missing(message):
    assert "pixel-missing" in codes("<html><body><p>Hi</p></body></html>")
    assert "pixel-missing" not in codes(doc("<p>Hi</p>", message))


def test_pixel_after_clip_and_body_clipped(message):
    filler = "<p>" + "x" * 200 + "</p>\n"
    long_text = filler * (CLIP_BYTES // len(filler) + 10)
    # The pixel at the end of a long body: an error; at the start of the same body: only the size.
    at_end = f"<html><body>{long_text}{instrument('', message)}</body></html>"
    at_start = instrument(f"<html><body>{long_text}</body></html>", message)
    found = {f.code: f for f in lint_html(at_end)}
    assert found["pixel-after-clip"].severity == ERROR
    assert found["pixel-after-clip"].line > 1
    assert found["body-clipped"].severity == WARNING
    assert "pixel-after-clip" not in codes(at_start) and "body-clipped" in codes(at_start)
    assert "body-clipped" not in codes(doc("<p>short</p>", message))


def test_clip_counts_bytes_not_characters(message):
    # 60,000 two-byte characters: 120 KB of HTML in 60,000 characters.
    html = instrument("<html><body><p>" + "é" * 60_000 + "</p></body></html>", message)
    assert "body-clipped" in codes(html)


def test_img_alt_missing(message):
    assert "img-alt-missing" in codes(doc('<img src="https://cdn.example.com/team-photo.jpg">', message))
    assert "img-alt-missing" not in codes(doc(GOOD_IMAGE, message))
    decorative = '<img src="https://cdn.example.com/divider-wave.png" alt="">'
    assert "img-alt-missing" not in codes(doc(decorative, message))


@pytest.mark.parametrize("src", [
    "https://cdn.example.com/image1.png", "https://cdn.example.com/IMG_1234.jpg",
    "https://cdn.example.com/DSC_0042.JPG", "https://cdn.example.com/%5Btitle%5D.png",
    "https://cdn.example.com/[title].png", "https://cdn.example.com/3f9a8c7e1b2d4f60a9e8.png",
    "https://cdn.example.com/0b7e2a0c-5d7f-4c38-9a1f-2c1d7e9b4a11.gif",
    "https://cdn.example.com/Screenshot%202026-11-30%20at%2010.14.png",
    "https://cdn.example.com/untitled.png", "https://cdn.example.com/12345.png",
])
def test_img_name_meaningless(src, message):
    html = doc(f'<img src="{src}" alt="Winter coats on sale">', message)
    assert codes(html) == ["img-name-meaningless"]


@pytest.mark.parametrize("alt", ["image", "IMG_1234.jpg", "photo 2", "banner.png"])
def test_img_alt_meaningless(alt, message):
    html = doc(f'<img src="https://cdn.example.com/winter-coats.jpg" alt="{alt}">', message)
    assert codes(html) == ["img-name-meaningless"]


@pytest.mark.parametrize("src", ["https://cdn.example.com/winter-coats-2026.jpg",
                                 "https://cdn.example.com/logo-example-co.png",
                                 "https://cdn.example.com/image-of-the-new-office.png"])
def test_img_name_meaningful(src, message):
    assert codes(doc(f'<img src="{src}" alt="Our new office in Leeds">', message)) == []


def test_link_http(message):
    html = doc('<a href="http://example.com/old">Old</a>', message)
    assert codes(html) == ["link-http"]
    assert codes(doc('<a href="HTTPS://example.com/new">New</a>', message)) == []


def test_link_untracked(message):
    tracked = doc('<a href="https://example.com/a">A</a>', message)
    # A link added after the rewrite (outside {% track_links %}), or too long for a token.
    untracked = tracked.replace("</body>", '<a href="https://example.com/forgotten">B</a></body>')
    assert codes(untracked) == ["link-untracked"]
    too_long = doc(f'<a href="https://example.com/?q={"x" * 5000}">Long</a>', message)
    assert codes(too_long) == ["link-untracked"]
    # mailto:, tel:, unsubscribe and skipped links are left untracked on purpose.
    kept = doc('<a href="mailto:a@example.com">m</a><a href="tel:+1">t</a>'
               '<a data-leadpixel="skip" href="https://example.com/skip">s</a>', message)
    assert codes(kept) == []


def test_unsubscribe_missing(message):
    without = instrument('<html><body><a href="https://example.com/a">A</a></body></html>', message)
    assert "unsubscribe-missing" in codes(without, campaign=True)
    assert "unsubscribe-missing" not in codes(without)  # a transactional email needs none
    assert "unsubscribe-missing" not in codes(doc("", message), campaign=True)
    data_attribute = instrument('<html><body><a data-unsubscribe href="https://example.com/prefs">'
                                'Preferences</a></body></html>', message)
    assert "unsubscribe-missing" not in codes(data_attribute, campaign=True)


@pytest.mark.parametrize("href", ["javascript:alert(1)", " JavaScript:void(0)", "java\nscript:x()"])
def test_link_javascript(href, message):
    html = doc(f'<a href="{href}">x</a>', message)
    assert codes(html) == ["link-javascript"]
    # A page about JavaScript is a link like any other.
    assert codes(doc('<a href="https://example.com/javascript:guide">x</a>', message)) == []


def test_form_and_script(message):
    html = doc('<form action="https://example.com/s"><input name="q"></form>'
               '<script>alert(1)</script>', message)
    assert codes(html) == ["form", "script"]
    # Written inside a comment or an attribute, they are not tags.
    assert codes(doc('<!--[if mso]><script>x</script><form></form><![endif]-->'
                     '<p title="<script>">t</p>', message)) == []


def test_every_code_is_tested_here():
    source = Path(__file__).read_text(encoding="utf-8")
    for code in CODES:
        assert f'"{code}"' in source, code


def test_findings_say_what_to_do_and_have_a_known_severity():
    html = ('<html><body><img src="https://cdn.example.com/IMG_1.png"><a href="javascript:x">j</a>'
            '<a href="http://example.com">h</a><form></form><script></script></body></html>')
    findings = lint_html(html, campaign=True)
    assert {f.code for f in findings} == set(CODES) - {
        "pixel-after-clip", "body-clipped", "link-untracked"}
    for finding in findings:
        assert finding.severity == CODES[finding.code][0] in (ERROR, WARNING)
        assert len(finding.message) > 20


def test_readme_table_lists_exactly_the_codes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sending tracked email", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (error|warning) \|", section, re.MULTILINE)
    assert dict(rows) == {code: severity for code, (severity, _what) in CODES.items()}


# --- the command ------------------------------------------------------------------------

def test_command_on_a_clean_file_exits_zero(tmp_path, db, capsys):
    page = tmp_path / "clean.html"
    page.write_text("{% load leadpixel %}<html><body>{% lead_pixel %}{% track_links %}"
                    '<a href="https://example.com/a">{{ label }}</a>{% endtrack_links %}'
                    + UNSUBSCRIBE + "</body></html>", encoding="utf-8")
    call_command("leadpixel_lint", str(page), "--context", json.dumps({"label": "Read"}),
                 "--campaign")
    out = capsys.readouterr().out
    assert out.strip().endswith("0 error(s), 0 warning(s)")


def test_command_exit_status_is_one_on_errors(tmp_path, db, capsys):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><a href="javascript:go()">Go</a></body></html>', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        call_command("leadpixel_lint", str(page))
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "error pixel-missing" in out and "line 1: error link-javascript" in out


def test_command_warnings_only_exit_zero(tmp_path, db, capsys):
    page = tmp_path / "warn.html"
    page.write_text("{% load leadpixel %}<html><body>{% lead_pixel %}"
                    '<a href="http://example.com">x</a></body></html>', encoding="utf-8")
    call_command("leadpixel_lint", str(page))
    assert "warning link-http" in capsys.readouterr().out


def test_command_renders_a_template_by_name(tmp_path, db, capsys, settings):
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "welcome.html").write_text(
        "{% load leadpixel %}<html><body>{% lead_pixel %}<p>Hi {{ name }}</p>"
        '<img src="https://cdn.example.com/{{ image }}" alt="{{ name }}"></body></html>',
        encoding="utf-8")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    call_command("leadpixel_lint", "emails/welcome.html",
                 "--context", '{"name": "Ana", "image": "welcome-team-photo.jpg"}')
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    call_command("leadpixel_lint", "emails/welcome.html", "--context", '{"image": "image1.png"}')
    out = capsys.readouterr().out
    assert "warning img-name-meaningless" in out and "0 error(s), 1 warning(s)" in out


def test_command_bad_input(tmp_path, db):
    with pytest.raises(CommandError, match="no such file or template"):
        call_command("leadpixel_lint", str(tmp_path / "missing.html"))
    with pytest.raises(CommandError, match="not JSON"):
        call_command("leadpixel_lint", str(tmp_path), "--context", "{nope")


FRAGMENTS = st.sampled_from([
    "<a href=", "<img src=", "<body>", "<BODY bgcolor=#fff>", "<form>", "<script>", "</a>", '"',
    "'", "http://[::1", "javascript:", "https://example.com/", "IMG_1.png", "&amp;", "<!--",
    "-->", "<![endif]>", "alt=", " ", "\n", "\r\n", "\x00", "é", ">", "<", "=", "%",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=40).map("".join))
def test_lint_and_instrument_never_raise(html):
    findings = lint_html(html, campaign=True)
    assert all(f.code in CODES and f.severity == CODES[f.code][0] for f in findings)
    out = instrument(html, Message())
    assert "/t/o/" in out and len(out) > len(html)
