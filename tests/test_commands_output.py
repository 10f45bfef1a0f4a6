"""What the batch commands write: a bar only on a terminal, a summary line in pipes and
logs, counted nouns in the singular and the plural, help for every option, and range
files a web server's user can read in a folder the command makes."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.utils import timezone

from django_leadpixel.management.progress import counted
from django_leadpixel.models import Open

from .conftest import CHROME, make_message

RANGES = Path(__file__).parent / "fixtures" / "ranges"


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def opens(n: int):
    message = make_message()
    for _ in range(n):
        Open.objects.create(message=message, source="human", ip="81.2.69.142", user_agent=CHROME)


@pytest.mark.django_db
@pytest.mark.parametrize("command, label", [("leadpixel_enrich", "enriching"),
                                            ("leadpixel_reclassify", "reclassifying")])
def test_no_bar_in_a_pipe(command, label):
    opens(3)
    out, err = StringIO(), StringIO()
    call_command(command, stdout=out, stderr=err)
    assert "\r" not in err.getvalue() and f"{label} [" not in err.getvalue()
    assert out.getvalue().strip()  # the summary line


@pytest.mark.django_db
@pytest.mark.parametrize("command, label", [("leadpixel_enrich", "enriching"),
                                            ("leadpixel_reclassify", "reclassifying")])
def test_bar_on_a_terminal_unless_asked_not_to(command, label):
    opens(3)
    err = Terminal()
    call_command(command, stdout=StringIO(), stderr=err)
    assert f"\r{label} [" in err.getvalue() and "3/3" in err.getvalue()
    quiet = Terminal()
    again = ["--all"] if command == "leadpixel_enrich" else []
    call_command(command, *again, "--no-progress", stdout=StringIO(), stderr=quiet)
    assert "\r" not in quiet.getvalue()


@pytest.mark.django_db
def test_enrich_summary_counts_in_the_singular_and_the_plural():
    opens(1)
    out = StringIO()
    call_command("leadpixel_enrich", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "enriched 1 event"
    opens(2)
    out = StringIO()
    call_command("leadpixel_enrich", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "enriched 2 events"


@pytest.mark.django_db
def test_purge_summary_in_the_singular(settings):
    make_message(sent_at=timezone.now() - timedelta(days=40))
    out = StringIO()
    call_command("leadpixel_purge", "--days", "30", stdout=out)
    assert out.getvalue().strip() == "deleted 1 message, with 0 opens, 0 clicks and 0 downloads"


def test_counted():
    assert [counted(n, "cell", "cells") for n in (0, 1, 2)] == ["0 cells", "1 cell", "2 cells"]


@pytest.mark.parametrize("command", ["leadpixel_enrich", "leadpixel_reclassify"])
def test_every_option_has_help(command):
    parser = load_command_class("django_leadpixel", command).create_parser("manage.py", command)
    own = [action for action in parser._actions
           if any(s in ("--batch-size", "--no-progress", "--all", "--since")
                  for s in action.option_strings)]
    assert {s for a in own for s in a.option_strings} >= {"--batch-size", "--no-progress"}
    for action in own:
        assert action.help, action.option_strings
    text = parser.format_help()
    assert "BATCH_SIZE" in text and "terminal" in text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_update_ranges_makes_the_folder_and_readable_files(tmp_path, umask_022):
    target = tmp_path / "srv" / "leadpixel-ranges"
    out = StringIO()
    call_command("leadpixel_update_ranges", "--google", str(RANGES / "goog.json"),
                 "--output", str(target), stdout=out)
    written = target / "google.txt"
    assert written.is_file()
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert "networks ->" in out.getvalue()


def test_update_ranges_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        call_command("leadpixel_update_ranges", "--google", str(RANGES / "goog.json"),
                     "--output", str(tmp_path), stdout=StringIO())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "google.txt").stat().st_mode) == 0o640


def test_update_ranges_output_in_the_way(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="cannot be created"):
        call_command("leadpixel_update_ranges", "--google", str(RANGES / "goog.json"),
                     "--output", str(blocker / "sub"), stdout=StringIO())
