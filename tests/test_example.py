"""The example project's demo command, run as a user runs it (child process, own SQLite)."""

import os
import sqlite3
import subprocess
import sys

from .conftest import ROOT


def test_demo_sets_up_and_records_classified_hits(tmp_path):
    db = tmp_path / "demo.sqlite3"
    env = {**os.environ, "SQLITE_PATH": str(db), "LEADPIXEL_SPOOL_FILE": str(tmp_path / "s.jsonl"),
           "DJANGO_MEDIA_ROOT": str(tmp_path / "media")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "example_project" / "manage.py"), "demo", "--no-serve"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "login 'admin' password 'leadpixel-demo'" in result.stdout
    assert "/t/o/" in result.stdout and "mailto:support@example.com" in result.stdout
    # The lint of the deliberately bad template, with its exit status.
    assert "error link-javascript" in result.stdout and "(exit status 1)" in result.stdout
    rows = sqlite3.connect(db).execute(
        "SELECT m.recipient, o.source, o.masked, o.os, o.enriched_at IS NOT NULL "
        "FROM django_leadpixel_open o JOIN django_leadpixel_message m ON m.id = o.message_id"
    ).fetchall()
    by_recipient = {r[0]: r[1:] for r in rows}
    assert by_recipient["ada@example.com"] == ("human", 0, "Windows", 1)
    assert by_recipient["grace@example.com"] == ("google_proxy", 1, "", 1)
    assert by_recipient["linus@example.com"][0] == "human"
    assert by_recipient["linus@example.com"][2] == "iOS"
    assert by_recipient["tim@example.com"][0] == "apple_mpp"
    clicks = sqlite3.connect(db).execute(
        "SELECT source, COUNT(*) FROM django_leadpixel_click GROUP BY source").fetchall()
    assert dict(clicks)["human"] == 2 and dict(clicks)["scanner"] >= 8
    # One email with a tracked image and a tracked PDF: each reader loaded the image, two
    # read the PDF, and the gateway's HEAD of it is a machine's.
    assert "/t/i/" in result.stdout and "/chart-of-climate-change-impact-2020-to-2026.png" in result.stdout
    images = sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM django_leadpixel_open WHERE image = 'demo/climate-impact.png'").fetchone()
    assert images == (4,)
    downloads = dict(sqlite3.connect(db).execute(
        "SELECT source, COUNT(*) FROM django_leadpixel_download GROUP BY source").fetchall())
    assert downloads.pop("human") == 2 and sum(downloads.values()) == 4, downloads
    assert list((tmp_path / "media").rglob("*.pdf"))
    # Ada and Linus followed the offer into the example site's shop (VisitMiddleware).
    visits = sqlite3.connect(db).execute(
        "SELECT m.recipient, v.path, v.source FROM django_leadpixel_visit v "
        "JOIN django_leadpixel_message m ON m.id = v.message_id ORDER BY v.occurred_at").fetchall()
    assert [v for v in visits if v[0] == "ada@example.com"] == [
        ("ada@example.com", "/shop/autumn/", "human"), ("ada@example.com", "/shop/boots/", "human")]
    lead = sqlite3.connect(db).execute(
        "SELECT messages, opened, visits, score > 0 FROM leadpixel_lead WHERE email = 'ada@example.com'"
    ).fetchone()
    assert lead == (1, 1, 2, 1)
    assert "/admin/django_leadpixel/lead/ada_40example.com/change/" in result.stdout


def test_example_settings_keep_debug_off_and_no_key_in_the_code(tmp_path):
    # Issue 14, item 15: a public default key let anyone forge click tokens for a demo.
    script = (
        "import os, stat, sys; sys.path.insert(0, 'example_project');"
        "import example_project.settings as s;"
        f"path = __import__('pathlib').Path({str(tmp_path / 'key')!r});"
        "a = s._secret_key(path); b = s._secret_key(path);"
        "print(s.DEBUG, a == b, len(a) >= 50, oct(stat.S_IMODE(path.stat().st_mode)),"
        " s.SECRET_KEY == 'from-the-environment', 'example-only' in open(s.__file__).read())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SECRET_KEY"] = "from-the-environment"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "0o600", "True", "False"]
