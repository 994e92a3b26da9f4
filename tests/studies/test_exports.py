"""The participants, items and codebook exports: staff only, one row per participant or
item, every column documented, read back by pandas without options; pilot and excluded
participants left out unless asked for."""

import io

import pandas as pd
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import ExclusionEvent, Participant, Trial
from studies.services import export
from studies.services import launch as lifecycle
from studies.services.export.codebook import describe
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
ATTACK = {"attack": "pgd", "eps": 8, "steps": 10}


@pytest.fixture
def study(tmp_path):
    created = factories.study(
        tmp_path,
        n_images=6,
        per_participant=3,
        prepared=True,
        slug="tables",
        task_kind="label_check",
        stimuli="adversarial",
        attack=ATTACK,
        explanation_display="side_by_side",
        attention_checks=1,
        labels=imagenet_1k().class_ids[:6],
        exclusion_rules=[{"rule": "median_rt", "threshold": 300, "mode": "posthoc"}],
    )
    for rt_ms in (900, 150):  # the second one is flagged by the post-hoc rule
        client = ParticipantClient(APIClient(), created.slug)
        client.enter()
        client.consent()
        while (trial := client.next().json()["trial"]) is not None:
            answer = client.valid_answer(trial)
            if trial["kind"] == "attention":
                answer = {"choice": Trial.objects.get(pk=trial["id"]).expected["choice"]}
            client.respond(trial, answer, rt_ms=rt_ms, client={"hidden_ms": 250})
    return created


def staff_get(path):
    staff = APIClient()
    staff.force_login(factories.researcher())
    return staff.get(path)


def table(study, name, query=""):
    reply = staff_get(f"/api/v1/studies/{study.slug}/export/{name}.csv{query}")
    assert reply.status_code == 200 and reply["Content-Type"].startswith("text/csv")
    return pd.read_csv(io.BytesIO(b"".join(reply.streaming_content)))


def test_participants_are_one_row_each_with_their_summary(study):
    frame = table(study, "participants")
    assert len(frame) == 1  # the flagged participant is left out by default
    row = frame.iloc[0]
    assert (row["participant_status"], row["condition"], row["excluded"]) == ("completed", "main", 0)
    assert (row["trials"], row["answered"], row["attention_checks"], row["attention_failed"]) == (4, 4, 1, 0)
    assert row["median_rt_ms"] == 900 and row["hidden_ms"] == 4 * 250
    everyone = table(study, "participants", "?excluded=1")
    assert sorted(everyone["excluded"]) == [0, 1]
    flagged = everyone[everyone["excluded"] == 1].iloc[0]
    assert flagged["exclusion_rules"] == "median_rt" and flagged["median_rt_ms"] == 150
    assert ExclusionEvent.objects.get().participant.pseudonym == flagged["participant"]


def test_items_carry_their_stimulus_attack_and_explanation_and_valid_judgments(study):
    frame = table(study, "items")
    assert len(frame) == study.current_version.items.count() == 6
    assert set(frame["stimulus_type"]) == {"adversarial"} and set(frame["attack"]) == {"pgd"}
    assert set(frame["attack_eps"]) == {8.0} and frame["explanation_sha256"].str.len().eq(64).all()
    valid = Participant.objects.get(excluded=False)
    judged = set(valid.trials.filter(role="main").values_list("item_id", flat=True))
    assert dict(zip(frame["item_id"], frame["judgments"], strict=True)) == {
        item.id: int(item.id in judged) for item in study.current_version.items.all()
    }


def test_the_responses_table_reads_back_with_pandas_and_proper_types(study):
    frame = table(study, "responses", "?excluded=1")
    assert len(frame) == 8
    assert frame["rt_ms"].dtype.kind == "i" and frame["confidence"].dropna().between(1, 5).all()
    assert frame["presented_at"].map(pd.Timestamp).notna().all()


def test_the_codebook_documents_every_column_and_how_to_reproduce(study):
    reply = staff_get(f"/api/v1/studies/{study.slug}/export/codebook.json")
    assert reply.status_code == 200
    book = reply.json()
    for name, columns in (
        ("responses", export.header(export.max_k(study))),
        ("participants", export.participant_rows.__globals__["COLUMNS"]),
        ("items", export.item_rows.__globals__["COLUMNS"]),
    ):
        assert [entry["name"] for entry in book["tables"][name]] == list(columns)
        assert all(entry["meaning"] and entry["type"] for entry in book["tables"][name])
    confidence = next(e for e in book["tables"]["responses"] if e["name"] == "confidence")
    assert confidence["values"] == [1, 2, 3, 4, 5]
    reproduce = book["reproducibility"]
    assert reproduce["classifier"]["weights_sha256"] == study.classifier.weights_sha256
    assert reproduce["versions"][0]["config"] == study.current_version.config
    assert reproduce["study_seed"] == study.seed and reproduce["secondlook"]
    assert "django" in reproduce["libraries"]
    # The rules a reader needs to read the cells back (export/cells.py), stated in the file.
    assert book["types"].startswith("string; integer; number; datetime")
    assert "begins with a single quote (')" in book["text_cells"]


def test_an_undocumented_column_is_an_error_not_a_silent_gap():
    with pytest.raises(KeyError):
        describe("no_such_column")


@pytest.mark.parametrize("path", ["participants.csv", "items.csv", "codebook.json", "responses.csv"])
def test_exports_are_for_staff_with_the_permission_only(study, path, django_user_model):
    url = f"/api/v1/studies/{study.slug}/export/{path}"
    assert APIClient().get(url).status_code in (401, 403)
    outsider = APIClient()
    outsider.force_login(django_user_model.objects.create_user("someone", password="pw", is_staff=True))
    assert outsider.get(url).status_code == 403


def test_every_export_is_also_a_management_command(study, tmp_path):
    for name in ("participants", "items", "responses"):
        target = tmp_path / f"{name}.csv"
        call_command("export", study.slug, name, output=str(target), include_excluded=True)
        assert len(pd.read_csv(target)) == {"participants": 2, "items": 6, "responses": 8}[name]
    book = tmp_path / "codebook.json"
    call_command("export", study.slug, "codebook", output=str(book))
    assert '"tables"' in book.read_text()


def test_a_study_without_responses_exports_headers_only(tmp_path):
    quiet = factories.study(tmp_path, slug="quiet", live=False)
    lifecycle.launch(quiet)
    for name in ("participants", "responses"):
        frame = table(quiet, name)
        assert frame.empty and len(frame.columns) > 5
