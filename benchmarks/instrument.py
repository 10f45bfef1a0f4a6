"""Cost per email of ``mail.instrument()`` on a 100 KB HTML body (no database).

Run from the repository root, by hand (the test suite does not run it):

    python benchmarks/instrument.py [--rounds 15] [--per-round 20] [--kb 100]
                                    [--fill newsletter|article]

The body is the Outlook newsletter of tests/fixtures/email/ grown to ``--kb``
KB (real-world markup: tables, conditional comments, inline styles): with its
content table repeated (``newsletter``: a link every few hundred bytes, 348
links at 100 KB), or with text paragraphs (``article``: its 6 links). Three
scenarios run in alternating rounds so a load on the machine lands on all of
them alike:

- ``tokenize``: ``linkrewrite.start_tags`` alone (what reading the HTML costs);
- ``rewrite``: ``linkrewrite.rewrite_links`` (tokenize plus signing every link);
- ``instrument``: ``mail.instrument`` (rewrite, plus the pixel after <body>).

Each round times ``--per-round`` calls of each scenario (each on a new Message,
as the backend does per recipient) and reports microseconds per email: the
median over the rounds, with min, max and the quartiles.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    SECRET_KEY="benchmark",
    INSTALLED_APPS=["django.contrib.contenttypes", "django_leadpixel"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF=__name__,  # urlpatterns below: the app's URLs under /t/, as in a project
    USE_TZ=True,
    LEADPIXEL={"BASE_URL": "https://mail.example.com"},
)
django.setup()

from django.urls import include, path  # noqa: E402

urlpatterns = [path("t/", include("django_leadpixel.urls"))]

from timing import median_spread  # noqa: E402

from django_leadpixel.linkrewrite import rewrite_links, start_tags  # noqa: E402
from django_leadpixel.mail import instrument  # noqa: E402
from django_leadpixel.models import Message  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "email" / "outlook_newsletter.html"


PARAGRAPH = ('<p style="margin:0 0 12px;font-family:Arial,sans-serif;font-size:15px;'
             'line-height:22px;color:#333333;">Autumn is when most of our customers plan next '
             "year's garden: this issue walks through soil tests, cover crops and the tools that "
             "make the work lighter, with notes from readers who tried them last season.</p>\n")


def body_of(kb: int, fill: str = "newsletter") -> str:
    """The newsletter grown to ``kb`` KB: its content table repeated ("newsletter", a
    link every ~300 bytes), or text paragraphs added to one copy ("article", 6 links)."""
    source = CORPUS.read_text(encoding="utf-8")
    start = source.index('<table role="presentation" width="100%" style="max-width:600px;"')
    end = source.index("</table>", source.index("Preferences</a>")) + len("</table>")
    block = source[start:end]
    if fill == "article":
        at = source.index("<h1")
        count = -(-(kb * 1024 - len(source.encode("utf-8"))) // len(PARAGRAPH))
        return source[:at] + PARAGRAPH * max(0, count) + source[at:]
    size = len(block.encode("utf-8"))
    copies = max(1, -(-(kb * 1024 - (len(source) - len(block))) // size))  # at least kb KB
    return source[:start] + "\n".join([block] * copies) + source[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--fill", choices=("newsletter", "article"), default="newsletter",
                        help="newsletter: the content table repeated (many links); article: "
                             "text paragraphs (the layout's 6 links)")
    args = parser.parse_args()

    html = body_of(args.kb, args.fill)
    links = len(start_tags(html, ("a",)))
    print(f"body: {len(html.encode('utf-8')) / 1024:.1f} KB, {links} <a> tags, "
          f"{html.count(chr(10)) + 1} lines; {args.rounds} rounds x {args.per_round} emails")

    scenarios = {
        "tokenize": lambda message: start_tags(html, ("a", "body")),
        "rewrite": lambda message: rewrite_links(html, message.public_id, honeypot=False),
        "instrument": lambda message: instrument(html, message),
    }
    results: dict[str, list[float]] = {name: [] for name in scenarios}
    for work in scenarios.values():  # warm-up: imports, URL resolver, regex caches
        work(Message(public_id=uuid.uuid4()))
    for number in range(args.rounds):
        order = list(scenarios.items())
        if number % 2:
            order.reverse()
        for name, work in order:
            messages = [Message(public_id=uuid.uuid4()) for _ in range(args.per_round)]
            started = time.perf_counter()
            for message in messages:
                work(message)
            results[name].append((time.perf_counter() - started) / args.per_round * 1e6)

    print(f"{'scenario':<12} {'median µs':>10} {'min':>9} {'q1':>9} {'q3':>9} {'max':>9}")
    for name, values in results.items():
        s = median_spread(values)
        print(f"{name:<12} {s['median']:>10.0f} {s['min']:>9.0f} {s['q1']:>9.0f} "
              f"{s['q3']:>9.0f} {s['max']:>9.0f}")


if __name__ == "__main__":
    main()
