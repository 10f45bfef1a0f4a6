"""The report rollup gives the events' own figures, whatever changed since it was built."""

import random
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_leadpixel import history, jobs, reports
from django_leadpixel.models import Click, Message, Open, ReportCell, ReportDirty
from django_leadpixel.reports import rollup

from ..admin.helpers import T0, click, message, open_

# Real commits: markers are written once the data they describe is committed.
pytestmark = pytest.mark.django_db(transaction=True)

SOURCES = ["human", "human", "human", "google_proxy", "yahoo_proxy", "apple_mpp", "scanner", "bot"]
DEVICES = [("desktop", "Windows", "Chrome", ""), ("mobile", "iOS", "", "Apple Mail"),
           ("desktop", "Linux", "Firefox", "Thunderbird")]
FILTERS = [{}, {"campaign": "c0"}, {"campaign": "c2", "start": T0.date()},
           {"start": T0.date() + timedelta(days=1), "end": T0.date() + timedelta(days=3)},
           {"campaign": "c1", "end": T0.date() + timedelta(days=2)}, {"campaign": "nope"}]


def populate(seed: int = 7, messages: int = 60) -> list[Message]:
    rng = random.Random(seed)
    made = []
    for i in range(messages):
        msg = message(recipient=f"r{i}@example.com", campaign=f"c{i % 3}",
                      sent_at=T0 + timedelta(days=rng.randrange(5), hours=rng.randrange(12)))
        made.append(msg)
        for _ in range(rng.randrange(4)):
            source = rng.choice(SOURCES)
            device, os_name, browser, client = rng.choice(DEVICES)
            human = {"country": rng.choice("GB DE US".split()), "device_type": device,
                     "os": os_name, "browser": browser, "mail_client": client} \
                if source == "human" else {}
            open_(msg, source, minutes=rng.randrange(1, 4000), **human)
        if rng.random() < 0.4:
            click(msg, rng.choice(["human", "scanner"]), minutes=rng.randrange(1, 4000),
                  url=f"https://shop.example.com/{rng.randrange(3)}", position=rng.randrange(3))
    return made


def live(**filters) -> dict:
    return reports.finalize(reports.live_partial(**filters), **filters)


def assert_exact() -> None:
    for filters in FILTERS:
        assert reports.campaign_report(**filters) == live(**filters), filters


def how(**filters) -> dict:
    return rollup.report_partial(**filters)[1]


def test_report_from_cells_is_the_report_from_events():
    populate()
    assert how() == {"cells": 0, "live": -1}  # no rollup yet: the events
    result = rollup.refresh()
    assert result["built"] == ReportCell.objects.count() == 15  # 3 campaigns x 5 days
    assert result["waiting"] == 0
    assert how() == {"cells": 15, "live": 0}
    assert how(campaign="c0") == {"cells": 5, "live": 0}
    assert_exact()
    assert rollup.refresh() == {"built": 0, "deleted": 0, "waiting": 0}  # nothing to do


def test_a_new_unenriched_event_counts_at_once_and_enrichment_marks_its_cell():
    msgs = populate()
    rollup.refresh()
    target = msgs[0]
    Open.objects.create(message=target, source="human", ip="81.2.69.160",
                        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                        occurred_at=target.sent_at + timedelta(hours=1))
    assert how() == {"cells": 14, "live": 1}
    assert_exact()
    assert jobs.sweep() == 1  # enriched: the event no longer shows, its marker does
    assert ReportDirty.objects.filter(campaign=target.campaign).exists()
    assert how() == {"cells": 14, "live": 1}
    assert_exact()
    assert rollup.refresh()["built"] == 1
    assert not ReportDirty.objects.exists()
    assert how() == {"cells": 15, "live": 0}
    assert_exact()


def cell_of(msg: Message) -> tuple[str, date]:
    return msg.campaign, timezone.localtime(msg.sent_at).date()


def test_new_moved_and_deleted_messages_are_seen_by_their_ids():
    msgs = populate()
    rollup.refresh()
    a, b = msgs[1], msgs[4]  # same campaign (c1), other days: swap their days
    assert cell_of(a) != cell_of(b)
    Message.objects.filter(pk=a.pk).update(sent_at=b.sent_at)
    Message.objects.filter(pk=b.pk).update(sent_at=a.sent_at)
    assert how()["live"] == 2  # same number of messages in each cell, other ones
    assert_exact()
    rollup.refresh()
    new = message(recipient="new@example.com", campaign="c1", sent_at=T0)  # no events
    Message.objects.filter(pk=msgs[2].pk).update(campaign="c9")
    Message.objects.filter(pk=msgs[5].pk).delete()
    expected = {cell_of(new), cell_of(msgs[2]), ("c9", cell_of(msgs[2])[1]), cell_of(msgs[5])}
    assert how()["live"] == len(expected)
    assert_exact()
    assert live(campaign="c9")["sent"] == 1
    rollup.refresh()
    assert how()["live"] == 0
    assert_exact()


def test_purge_and_erase_mark_cells_and_refresh_drops_empty_ones():
    msgs = populate()
    rollup.refresh()
    assert jobs.erase_recipient(msgs[5].recipient) == 1
    assert ReportDirty.objects.count() == 1
    assert_exact()
    deleted = jobs.purge(days=1, now=T0 + timedelta(days=3))  # messages of the first two days
    assert deleted > 0
    assert_exact()
    result = rollup.refresh()
    assert result["deleted"] == 6  # 3 campaigns x 2 days left empty
    assert ReportCell.objects.count() == 9
    assert how() == {"cells": 9, "live": 0}
    assert_exact()


def test_reclassify_marks_the_cells_it_changes():
    msg = message()
    Open.objects.create(message=msg, source="human", ip="66.249.84.1",
                        user_agent="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                                   "(via ggpht.com GoogleImageProxy)",
                        occurred_at=msg.sent_at + timedelta(hours=1), enriched_at=T0)
    rollup.refresh()
    assert live()["opens_by_source"]["human"] == 1
    assert jobs.reclassify()["changed"] == 1
    assert ReportDirty.objects.exists()
    report = reports.campaign_report()
    assert report["opens_by_source"]["google_proxy"] == 1 and report == live()


def test_a_marker_written_during_a_rebuild_survives_it():
    msgs = populate(messages=6)
    compute = reports.partial

    def partial_and_a_new_marker(messages, **kwargs):
        rollup.mark(rollup.keys_of_messages([msgs[0].pk]))  # a writer, meanwhile
        return compute(messages, **kwargs)

    with mock.patch.object(reports.figures, "partial", side_effect=partial_and_a_new_marker):
        rollup.refresh()
    assert ReportDirty.objects.filter(campaign=msgs[0].campaign).exists()
    assert how()["live"] == 1


def test_other_time_zones_and_many_stale_cells_use_the_events():
    populate()
    rollup.refresh()
    with timezone.override("Pacific/Kiritimati"):  # UTC+14: other sending days
        assert how() == {"cells": 0, "live": -1}
        assert reports.campaign_report() == live()
    Open.objects.update(enriched_at=None)
    with mock.patch.object(rollup, "MAX_UNENRICHED", 10):
        assert how() == {"cells": 0, "live": -1}
    with mock.patch.object(rollup, "MAX_LIVE_CELLS", 3):
        assert how() == {"cells": 0, "live": -1}
    opened = {cell_of(o.message) for o in Open.objects.select_related("message")}
    assert how() == {"cells": 15 - len(opened), "live": len(opened)}
    assert_exact()


def test_limit_leaves_the_rest_for_the_next_run():
    populate()
    assert rollup.refresh(4) == {"built": 4, "deleted": 0, "waiting": 11}
    assert how() == {"cells": 4, "live": 11}
    assert_exact()
    rollup.refresh(None)
    assert how() == {"cells": 15, "live": 0}


def test_rollup_command(capsys):
    msgs = populate(messages=9)
    cells = len({cell_of(m) for m in msgs})
    call_command("leadpixel_rollup")
    assert f"built {cells} cells, deleted 0, 0 left" in capsys.readouterr().out
    call_command("leadpixel_rollup")
    assert "built 0 cells" in capsys.readouterr().out
    call_command("leadpixel_rollup", "--rebuild", "--limit", "2")
    assert f"built 2 cells, deleted 0, {cells - 2} left" in capsys.readouterr().out
    with pytest.raises(CommandError, match="at least 1"):
        call_command("leadpixel_rollup", "--limit", "0")


def test_refresh_task_and_beat_entry():
    from django_leadpixel import tasks
    from django_leadpixel.beat import BEAT_SCHEDULE

    populate(messages=6)
    assert tasks.refresh_reports.apply(args=(None,)).get()["built"] == \
        ReportCell.objects.count() > 0
    assert BEAT_SCHEDULE["leadpixel-rollup"]["task"] == tasks.refresh_reports.name


def test_click_burst_found_later_sends_earlier_clicks_back_to_enrichment():
    msg = message()
    first = click(msg, "human", minutes=1, country="GB", device_type="desktop")
    rollup.refresh()
    later = [Click.objects.create(message=msg, source="human", url=f"https://shop.example.com/{x}",
                                  occurred_at=first.occurred_at + timedelta(milliseconds=ms))
             for x, ms in (("b", 300), ("c", 600))]
    history.settle(later)
    first.refresh_from_db()
    assert (first.source, first.enriched_at) == ("scanner", None)
    assert reports.campaign_report()["clicks_by_source"]["scanner"] == 3
    jobs.sweep()
    first.refresh_from_db()
    assert first.masked and first.country == "" and first.device_type == ""
    assert reports.campaign_report() == live()


def test_cells_survive_a_json_round_trip_exactly():
    populate(messages=12)
    rollup.refresh()
    cell = ReportCell.objects.order_by("campaign", "day").first()
    assert cell.data == reports.partial(rollup.messages_of([(cell.campaign, cell.day)]))
    assert isinstance(cell.day, date)


def test_nothing_is_marked_until_the_rollup_is_in_use_and_clear_turns_it_off(capsys):
    msgs = populate(messages=6)
    assert jobs.erase_recipient(msgs[0].recipient) == 1
    Open.objects.create(message=msgs[1], source="human", ip="81.2.69.160",
                        occurred_at=msgs[1].sent_at + timedelta(hours=1))
    jobs.sweep()
    assert not ReportDirty.objects.exists()  # no cells yet: markers would only pile up
    rollup.refresh()
    assert jobs.erase_recipient(msgs[2].recipient) == 1
    assert ReportDirty.objects.exists()
    call_command("leadpixel_rollup", "--clear")
    assert "deleted" in capsys.readouterr().out
    assert not ReportCell.objects.exists() and not ReportDirty.objects.exists()
    assert how() == {"cells": 0, "live": -1}
    assert_exact()


def test_what_is_enriched_during_the_first_build_is_marked_after_it():
    msgs = populate(messages=6)
    event = Open.objects.create(message=msgs[0], source="human", ip="81.2.69.160",
                                occurred_at=msgs[0].sent_at + timedelta(hours=1))
    compute = reports.partial
    calls = []

    def partial_then_enrich(messages, **kwargs):
        data = compute(messages, **kwargs)
        if not calls:  # a sweep commits while the first cells are being built
            jobs.sweep()
        calls.append(1)
        return data

    with mock.patch.object(reports.figures, "partial", side_effect=partial_then_enrich):
        rollup.refresh()
    event.refresh_from_db()
    assert event.enriched_at is not None
    assert ReportDirty.objects.filter(campaign=msgs[0].campaign).exists()
    assert_exact()


def test_the_first_build_leaves_nothing_stale_it_could_build():
    # Issue 14, item 16: the first build used to re-mark every cell with events enriched in
    # the last ten minutes, so a fresh database stayed half stale until a second run.
    populate(messages=40)
    Open.objects.update(enriched_at=timezone.now())  # all enriched a moment ago
    rollup.refresh()
    assert not ReportDirty.objects.exists()
    assert how()["live"] == 0 and how()["cells"] == ReportCell.objects.count() > 0
    assert_exact()


def test_markers_are_one_per_cell_whatever_the_writers():
    # Issue 14, item 13: each enrichment used to append a marker until the next refresh.
    msgs = populate(messages=6)
    rollup.refresh()
    same_cell = [m for m in msgs if rollup.key_of(m.campaign, m.sent_at)
                 == rollup.key_of(msgs[0].campaign, msgs[0].sent_at)]
    for _ in range(50):
        ReportDirty.objects.mark_messages([m.pk for m in same_cell])
    assert ReportDirty.objects.count() == 1
    # Marked again while a rebuild runs, the cell stays marked after it.
    compute = reports.partial

    def partial_and_mark_again(messages, **kwargs):
        data = compute(messages, **kwargs)
        ReportDirty.objects.mark_messages([same_cell[0].pk])
        return data

    with mock.patch.object(reports.figures, "partial", side_effect=partial_and_mark_again):
        rollup.refresh()
    assert ReportDirty.objects.count() == 1
    rollup.refresh()
    assert not ReportDirty.objects.exists()
    assert_exact()


# --- sending days at the edges of the calendar ---------------------------------------------

LAST_MOMENTS = [datetime(9999, 12, 31, 12, tzinfo=dt_timezone.utc),
                datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt_timezone.utc)]


def far_future_message(sent_at) -> Message:
    far = message(recipient="far@example.com", campaign="far", sent_at=sent_at)
    # Occurred "at sending", so its day is at the edge too; enriched long ago.
    open_(far, minutes=0, enriched_at=T0)
    return far


@pytest.mark.parametrize("sent_at", LAST_MOMENTS)
def test_a_message_sent_on_the_last_day_python_has_does_not_stop_the_rollup(capsys, sent_at):
    from django_leadpixel import tasks

    populate(messages=9)
    far_future_message(sent_at)
    call_command("leadpixel_rollup")
    assert ", 0 left for the next run" in capsys.readouterr().out
    assert ReportCell.objects.filter(campaign="far").count() == 1
    assert tasks.refresh_reports.apply(args=(None,)).get()["waiting"] == 0
    assert how()["live"] == 0
    assert reports.campaign_report()["sent"] == 10
    assert reports.campaign_report(campaign="far")["sent"] == 1
    assert reports.campaign_report(end=date(9000, 12, 31))["sent"] == 9
    assert_exact()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_sending_days_beyond_the_calendar_in_the_default_time_zone(settings, zone):
    # UTC+14: 9999-12-31T12:00Z is already year 10000 there; UTC-11: 0001-01-01T05:00Z is
    # still year 0. Neither has a date in Python; the rollup keeps them in the edge cells.
    settings.TIME_ZONE = zone
    populate(messages=9)
    far_future_message(LAST_MOMENTS[0])
    message(recipient="old@example.com", campaign="far",
            sent_at=datetime(1, 1, 1, 5, tzinfo=dt_timezone.utc))
    assert rollup.refresh(None)["waiting"] == 0
    assert how()["live"] == 0
    assert reports.campaign_report()["sent"] == 11
    assert reports.campaign_report(campaign="far") == live(campaign="far")
    assert_exact()


def test_a_cell_that_fails_is_skipped_logged_and_retried(caplog):
    populate(messages=9)
    real = reports.figures.partial
    bad = min(cell_of(m) for m in Message.objects.filter(campaign="c1"))

    def partial(messages, **kwargs):
        if set(messages.values_list("pk", flat=True)) == set(
                rollup.messages_of([bad]).values_list("pk", flat=True)):
            raise ValueError("one bad row")
        return real(messages, **kwargs)

    with mock.patch.object(reports.figures, "partial", partial), \
            caplog.at_level("ERROR", logger="django_leadpixel"):
        result = rollup.refresh(None)
    assert result["waiting"] == 1 and result["built"] == ReportCell.objects.count() > 0
    assert not ReportCell.objects.filter(campaign=bad[0], day=bad[1]).exists()
    [record] = [r for r in caplog.records if r.name == "django_leadpixel"]
    assert "c1" in record.getMessage() and bad[1].isoformat() in record.getMessage()
    assert record.exc_info is not None
    assert_exact()  # that cell's figures come from the events meanwhile
    assert rollup.refresh(None) == {"built": 1, "deleted": 0, "waiting": 0}


@pytest.mark.parametrize("zone, sent_at", [
    ("Pacific/Kiritimati", datetime(9999, 12, 31, 20, 0, tzinfo=dt_timezone.utc)),
    ("Pacific/Pago_Pago", datetime(1, 1, 1, 5, 0, tzinfo=dt_timezone.utc)),
])
def test_enrichment_marks_the_cell_of_a_message_at_the_calendars_edge(zone, sent_at):
    from django.test import override_settings

    with override_settings(TIME_ZONE=zone):
        msg = message(sent_at=sent_at, campaign="edge")
        rollup.refresh()
        Open.objects.create(message=msg, source="human", occurred_at=timezone.now())
        jobs.sweep()  # marks the cell of the message: no OverflowError
        assert ReportDirty.objects.filter(campaign="edge").exists()
