"""The request path's INSERT as a server-side prepared statement (PostgreSQL)."""

import logging
import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_leadpixel import sql as prepared
from django_leadpixel.ingest.hits import Hit
from django_leadpixel.ingest.record import record
from django_leadpixel.models import Click, Open

from .conftest import CHROME, ON_POSTGRES, make_message
from .test_views import assert_gif, click_path, pixel_path

# REPEAT_WINDOW 0: these tests load one message's pixel from one address again and
# again; repeats (and their guard in the prepared statement) are tested in
# tests/ingest/test_record.py, on both databases.
SETTINGS = {"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": False, "REPEAT_WINDOW": 0}
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="PREPARE is PostgreSQL's")


def in_autocommit_on_postgres(test):
    """PostgreSQL, real commits (autocommit, as in production), no enrichment dispatch."""
    return postgres_only(pytest.mark.django_db(transaction=True)(
        override_settings(LEADPIXEL=SETTINGS)(test)))


def test_statement_numbers_the_parameters_and_names_it_by_its_text():
    name, prepare, run = prepared.statement("INSERT INTO t VALUES (%s, %s) RETURNING a", ("uuid", "text"))
    assert prepare == f"PREPARE {name} (uuid, text) AS INSERT INTO t VALUES ($1, $2) RETURNING a"
    assert run == f"EXECUTE {name} (%s, %s)"
    assert name.startswith("leadpixel_")
    assert prepared.statement("INSERT INTO t VALUES (%s, %s) RETURNING b", ("uuid", "text"))[0] != name
    assert prepared.statement("INSERT INTO t VALUES (%s, %s) RETURNING a", ("uuid", "int"))[0] != name
    with pytest.raises(ValueError, match="2 placeholders for 1 types"):
        prepared.statement("VALUES (%s, %s)", ("text",))


@postgres_only
def test_a_varchar_parameter_is_text_so_the_column_still_refuses_overlong_values():
    assert prepared.param_type(Open._meta.get_field("source"), connection) == "text"
    assert prepared.param_type(Open._meta.get_field("id"), connection) == "uuid"


# The request budget's SET LOCALs travel in front of the statement (ingest/budget.py).
BUDGET_PREFIX = re.compile(r"^(SET LOCAL \w+ = \d+; )+")


def _sql(captured):
    return [BUDGET_PREFIX.sub("", q["sql"]).split(" ", 2)[:2] for q in captured.captured_queries]


@in_autocommit_on_postgres
def test_prepared_once_per_connection_then_executed(client):
    connection.close()  # a new connection: nothing prepared on it yet
    consenting, refusing = make_message(), make_message(tracking_consent=False)
    with CaptureQueriesContext(connection) as first:
        assert_gif(client.get(pixel_path(consenting), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.7"))
    with CaptureQueriesContext(connection) as later:
        assert_gif(client.get(pixel_path(refusing), HTTP_USER_AGENT=CHROME, REMOTE_ADDR="198.51.100.8"))
        assert client.get(click_path(consenting), HTTP_USER_AGENT=CHROME).status_code == 302
        # (another reader: an identical click would be counted as a repeat)
        assert client.get(click_path(consenting), HTTP_USER_AGENT=CHROME,
                          REMOTE_ADDR="198.51.100.9").status_code == 302
    assert [words[0] for words in _sql(first)] == ["PREPARE", "EXECUTE"]
    assert [words[0] for words in _sql(later)] == ["EXECUTE", "PREPARE", "EXECUTE", "EXECUTE"]
    # The consent rules still apply inside the prepared statement.
    kept = Open.objects.get(message=consenting)
    assert (str(kept.ip), kept.user_agent, kept.anonymous) == ("198.51.100.7", CHROME, False)
    hidden = Open.objects.get(message=refusing)
    assert (hidden.ip, hidden.user_agent, hidden.anonymous) == (None, "", True)
    assert Click.objects.filter(message=consenting).count() == 2


@in_autocommit_on_postgres
def test_a_duplicate_id_is_still_a_no_op():
    message = make_message()
    hit = Hit(kind="open", message_id=message.public_id, ip="198.51.100.7", user_agent=CHROME)
    assert record(hit) is True
    assert record(hit) is False
    assert Open.objects.filter(pk=hit.id).count() == 1


@in_autocommit_on_postgres
def test_a_pooler_that_loses_statements_loses_no_hit(client, caplog):
    """PgBouncer in transaction mode: EXECUTE may land on a server connection
    that never saw the PREPARE. DEALLOCATE ALL before each hit plays that part."""
    connection.close()
    message = make_message()
    with connection.cursor() as cursor, caplog.at_level(logging.WARNING, "django_leadpixel"):
        for _ in range(prepared.MAX_MISSES):
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))  # prepares
            cursor.execute("DEALLOCATE ALL")
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))  # misses
        with CaptureQueriesContext(connection) as after:
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    assert Open.objects.filter(message=message).count() == 2 * prepared.MAX_MISSES + 1
    # Each miss fell back to the plain statement; after MAX_MISSES misses the
    # connection stopped preparing.
    assert [words[0] for words in _sql(after)] == ["INSERT"]
    assert "prepared statements keep vanishing" in caplog.text


@in_autocommit_on_postgres
def test_a_statement_prepared_by_someone_else_is_used(client):
    """A pooler's server connection may already hold our statement (same name, same text)."""
    connection.close()
    message = make_message()
    assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    del connection._leadpixel_prepared  # we forget; the server connection remembers
    with CaptureQueriesContext(connection) as captured:
        assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    assert [words[0] for words in _sql(captured)] == ["PREPARE", "EXECUTE"]
    assert Open.objects.filter(message=message).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("settings_, atomic", [({**SETTINGS, "PREPARE_STATEMENTS": False}, False),
                                               (SETTINGS, True)])
def test_plain_statement_when_turned_off_or_inside_a_transaction(client, settings_, atomic):
    from django.db import transaction

    message = make_message()
    with override_settings(LEADPIXEL=settings_), CaptureQueriesContext(connection) as captured:
        if atomic:
            with transaction.atomic():
                assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
        else:
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    verbs = [words[0] for words in _sql(captured)]
    assert "INSERT" in verbs and "PREPARE" not in verbs and "EXECUTE" not in verbs
    assert Open.objects.filter(message=message).count() == 1


@in_autocommit_on_postgres
def test_a_prepare_the_server_refuses_falls_back_to_the_plain_statement(client, monkeypatch, caplog):
    connection.close()
    message = make_message()
    real = prepared.statement

    def refused(sql, types):
        name, _prepare, run = real(sql, types)
        return name, f"PREPARE {name} AS SELECT no_such_column FROM no_such_table", run

    monkeypatch.setattr(prepared, "statement", refused)
    with caplog.at_level(logging.WARNING, "django_leadpixel"):
        for _ in range(2):
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    assert Open.objects.filter(message=message).count() == 2  # stored, not spooled
    assert "could not prepare" in caplog.text and "spooled" not in caplog.text


@in_autocommit_on_postgres
def test_values_with_percent_signs_and_quotes_pass_through_execute_unchanged(client):
    connection.close()
    message = make_message()
    url = "https://shop.example.com/o'fer?q=50%25%20off&x=%s&y=$1"
    agent = CHROME + " 100% 'quoted' $1 %s"
    for _ in range(2):  # the first PREPAREs, the second only EXECUTEs
        response = client.get(click_path(message, url=url), HTTP_USER_AGENT=agent)
        assert response.status_code == 302 and response["Location"] == url
    assert set(Click.objects.values_list("url", "user_agent")) == {(url, agent)}


@postgres_only
@pytest.mark.django_db(transaction=True)
@override_settings(LEADPIXEL={"BASE_URL": "https://mail.example.com", "ENRICH_ON_RECORD": False})
def test_the_prepared_statement_counts_repeats_on_the_first_row(client):
    connection.close()
    message = make_message(tracking_consent=False)  # compared as stored: no address kept
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert_gif(client.get(pixel_path(message), HTTP_USER_AGENT=CHROME))
    assert [words[0] for words in _sql(captured)] == [
        "PREPARE", "EXECUTE", "EXECUTE", "UPDATE", "EXECUTE", "UPDATE"]
    row = Open.objects.get()
    assert (row.anonymous, row.repeats) == (True, 2)
