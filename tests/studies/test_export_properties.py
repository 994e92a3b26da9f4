"""Property: whatever JSON is stored in every field a participant controls (the answer, the
client information, the recruitment parameters; text in the idempotency key and a problem
report), every export reads back in full with pandas, no text cell starts a formula, and
the results page and the dashboard still render. On both databases: each stores what it
can (PostgreSQL's jsonb and text refuse U+0000 and lone surrogates; SQLite keeps them)."""

import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import JSONField, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from studies.models import Recruitment, Response, Trial
from studies.services.export.cells import FORMULA_START
from tests import factories
from tests.conftest import ParticipantClient
from tests.hostile_strings import FORMULAS

HOSTILE = [
    *FORMULAS,
    "<script>alert(1)</script>",
    'a,b\n"c"',
]
# JSON text on SQLite keeps these (as escapes); text columns take U+0000 there, never a
# lone surrogate (the driver cannot encode one); PostgreSQL stores neither anywhere.
NULL = ["\x00"]
SURROGATES = ["\ud800", "a\udfffb"]
TABLES = {"responses": 6, "participants": 2, "items": 6}


def json_values(texts):
    # No NaN or infinity: JSON has none, and neither database stores them in JSON.
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    )


def texts_for(vendor: str, in_json: bool):
    """The strings each database can store, in a JSON column or a text column."""
    special = list(HOSTILE)
    if vendor == "sqlite":
        special += NULL + (SURROGATES if in_json else [])
    plain = st.text(max_size=12)
    if vendor != "sqlite":
        plain = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
    return plain | st.sampled_from(special)


def client_like(texts):
    """Objects with the declared client fields holding anything, or any JSON at all."""
    fields = [
        "dpr",
        "viewport",
        "displayed",
        "scaled",
        "input",
        "hidden_ms",
        "hidden_count",
        "explanation_views",
    ]
    return st.dictionaries(st.sampled_from(fields), json_values(texts), max_size=8) | json_values(texts)


def answer_like(texts):
    fields = ["selected", "choice", "confidence"]
    return st.dictionaries(st.sampled_from(fields), json_values(texts), max_size=3) | json_values(texts)


# The two answer shapes: {"selected": [...]} and {"choice", "confidence"}.
@pytest.fixture(params=["topk_select", "label_check"])
def study(request, db, tmp_path):
    study = factories.study(tmp_path, slug="anything", per_participant=3, task_kind=request.param)
    for _ in range(2):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter({"src": "ad"})
        client.consent()
        client.complete()
    return study


def exported(study, table: str) -> pd.DataFrame:
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply = staff.get(f"/api/v1/studies/{study.slug}/export/{table}.csv")
    assert reply.status_code == 200
    return pd.read_csv(io.BytesIO(b"".join(reply.streaming_content)), dtype=str, keep_default_na=False)


def is_number(cell: str) -> bool:
    """Numbers are written as numbers (a negative one starts with "-" and is no formula)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def as_json(value):
    """A value for a JSONField update: None is JSON's null there, not SQL's NULL."""
    return Value(None, JSONField()) if value is None else value


@st.composite
def stored_rows(draw):
    texts = texts_for(connection.vendor, in_json=True)
    column_texts = texts_for(connection.vendor, in_json=False)
    responses = list(Response.objects.order_by("id").values_list("id", flat=True))
    return {
        "answers": {pk: draw(answer_like(texts)) for pk in responses},
        "clients": {pk: draw(client_like(texts)) for pk in responses},
        "keys": {pk: draw(column_texts) for pk in responses[:2]},
        "problem": draw(column_texts),
        "params": draw(st.dictionaries(texts, json_values(texts), max_size=4)),
    }


@settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_export_reads_back_whatever_participants_stored(study, client, data):
    stored = data.draw(stored_rows())
    with transaction.atomic():
        for pk, answer in stored["answers"].items():
            Response.objects.filter(pk=pk).update(
                answer=as_json(answer), client=as_json(stored["clients"][pk])
            )
        for pk, key in stored["keys"].items():
            Response.objects.filter(pk=pk).update(idempotency_key=key[:100])
        Trial.objects.filter(response__isnull=True, participant__study=study).update(
            problem="image_unavailable", problem_detail=stored["problem"][:200]
        )
        Recruitment.objects.update(params=stored["params"])
        for table, rows in TABLES.items():
            frame = exported(study, table)
            assert len(frame) == rows, table
            for column in frame.columns:
                for cell in frame[column]:
                    assert is_number(cell) or not cell.startswith(FORMULA_START), (table, column, cell)
            out = io.StringIO()
            call_command("export", study.slug, table, stdout=out, stderr=io.StringIO())
            assert len(pd.read_csv(io.StringIO(out.getvalue()), dtype=str)) == rows
        client.force_login(factories.researcher())
        for page in ("results", "dashboard"):
            assert client.get(f"/studies/{study.slug}/{page}/").status_code == 200
        assert client.get(f"/studies/{study.slug}/results/?format=json").status_code == 200
        transaction.set_rollback(True)
