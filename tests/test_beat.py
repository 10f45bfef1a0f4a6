"""The beat schedule: the Redis drain only in buffered mode, and the README names every entry."""

from __future__ import annotations

import re
from pathlib import Path

from django_leadpixel import tasks
from django_leadpixel.beat import BEAT_SCHEDULE, beat_schedule

README = Path(__file__).resolve().parent.parent / "README.md"


def test_direct_mode_has_no_ingest_entry():
    assert "leadpixel-ingest" not in BEAT_SCHEDULE
    assert "leadpixel-ingest" not in beat_schedule({"BASE_URL": "https://mail.example.com"})
    assert "leadpixel-ingest" not in beat_schedule({"INGEST": "direct"})
    assert "leadpixel-ingest" not in beat_schedule(None)


def test_buffered_mode_drains_every_two_seconds():
    schedule = beat_schedule({"INGEST": "redis"})
    assert schedule["leadpixel-ingest"] == {"task": tasks.ingest.name, "schedule": 2.0}
    assert set(schedule) - {"leadpixel-ingest"} == set(BEAT_SCHEDULE)
    assert "leadpixel-ingest" not in BEAT_SCHEDULE  # not changed in place


def test_every_entry_names_a_registered_task():
    for entry in beat_schedule({"INGEST": "redis"}).values():
        module, name = entry["task"].rsplit(".", 1)
        assert module == "django_leadpixel.tasks"
        assert getattr(tasks, name).name == entry["task"]


def test_readme_lists_what_the_schedule_contains():
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- beat-schedule -->")
    section = text[start:text.index("<!-- /beat-schedule -->", start)]
    listed = set(re.findall(r"`(leadpixel-[a-z]+)`", section))
    assert listed == set(beat_schedule({"INGEST": "redis"}))
