"""The responses CSV: staff only, streamed, parsed back with one row per response."""

import csv
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import Response
from studies.services.export import header
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db


def finished_participants(study, n=2):
    clients = []
    for _ in range(n):
        client = ParticipantClient(APIClient(), study.slug)
        client.enter()
        client.consent()
        client.complete()
        clients.append(client)
    return clients


def download(client, slug, query=""):
    reply = client.get(f"/api/v1/studies/{slug}/export/responses.csv{query}")
    body = b"".join(reply.streaming_content).decode() if reply.status_code == 200 else ""
    return reply, list(csv.DictReader(io.StringIO(body)))


def test_staff_download_one_row_per_response_with_every_column(live_study):
    finished_participants(live_study, 2)
    staff = APIClient()
    staff.force_login(factories.researcher())
    reply, rows = download(staff, live_study.slug)
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/csv")
    assert reply.streaming
    assert len(rows) == Response.objects.count() == 8
    assert list(rows[0].keys()) == header(5)
    for row in rows:
        response = Response.objects.get(trial_id=int(row["trial_id"]))
        trial, item = response.trial, response.trial.item
        assert row["participant"] == trial.participant.pseudonym
        assert row["image_sha256"] == item.image.sha256
        assert row["classifier"] == "efficientnet-lite0"
        assert row["classifier_weights_sha256"] == "0" * 64
        assert row["rt_ms"] == str(response.rt_ms)
        for rank, label in enumerate(item.labels, start=1):
            assert row[f"rank{rank}_class_id"] == label["id"]
            assert row[f"rank{rank}_label"] == label["text"]
            assert float(row[f"rank{rank}_prob"]) == pytest.approx(label["prob"])
            assert row[f"rank{rank}_selected"] == str(int(label["id"] in response.answer["selected"]))
        assert row["answered_at"] and row["presented_at"]


def test_selected_labels_and_none_are_flat_columns(live_study):
    client = ParticipantClient(APIClient(), live_study.slug)
    client.enter()
    client.consent()
    trial = client.next().json()["trial"]
    client.answer(trial, selected=[trial["options"][1]["id"], trial["options"][0]["id"]])
    client.answer(client.next().json()["trial"], selected=["none"])
    staff = APIClient()
    staff.force_login(factories.researcher())
    _, rows = download(staff, live_study.slug)
    first, second = rows
    assert first["selected_labels"] == f"{trial['options'][0]['text']}|{trial['options'][1]['text']}"
    assert (first["rank1_selected"], first["rank2_selected"], first["rank3_selected"]) == ("1", "1", "0")
    assert first["none_selected"] == "0" and second["none_selected"] == "1"
    assert first["rank1_position"] == "1"


@pytest.mark.parametrize("who", ["anonymous", "participant", "non-staff", "staff-without-permission"])
def test_everyone_but_permitted_staff_gets_403(live_study, django_user_model, who):
    client = APIClient()
    if who == "participant":
        participant = ParticipantClient(client, live_study.slug)
        participant.enter()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {participant.token}")
    elif who == "non-staff":
        client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    elif who == "staff-without-permission":
        client.force_login(django_user_model.objects.create_user("helper", password="x", is_staff=True))
    reply, rows = download(client, live_study.slug)
    assert reply.status_code == 403
    assert rows == []


def test_the_command_writes_the_same_csv(live_study, tmp_path):
    finished_participants(live_study, 1)
    target = tmp_path / "out.csv"
    call_command("export_responses", live_study.slug, output=str(target))
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 4
    staff = APIClient()
    staff.force_login(factories.researcher())
    assert download(staff, live_study.slug)[1] == rows


def test_withdrawn_answers_are_not_exported(live_study):
    withdrawn, kept = finished_participants(live_study, 2)
    withdrawn.post("session/withdraw")
    staff = APIClient()
    staff.force_login(factories.researcher())
    _, rows = download(staff, live_study.slug)
    assert len(rows) == 4
    assert {row["participant_status"] for row in rows} == {"completed"}


def test_choice_answers_attention_checks_and_adversarial_stimuli_are_flat_columns(tmp_path):
    study = factories.study(
        tmp_path,
        prepared=True,
        slug="labels",
        task_kind="label_check",
        stimuli="adversarial",
        attack={"attack": "pgd", "eps": 8, "steps": 10},
        explanation_display="toggle",
        attention_checks=1,
        practice_trials=1,
        labels=imagenet_1k().class_ids[:6],
        per_participant=3,
    )
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    views = [{"open_ms": 500, "close_ms": 1700}, {"open_ms": 2000, "close_ms": None}]
    while (trial := client.next().json()["trial"]) is not None:
        answer = client.valid_answer(trial)
        extra = {"scaled": False, "viewport": [1280, 800], "displayed": [24, 24], "explanation_views": views}
        client.respond(trial, answer, client={"dpr": 2, "input": "key", **extra})
    staff = APIClient()
    staff.force_login(factories.researcher())
    _, rows = download(staff, study.slug)
    assert [row["trial_role"] for row in rows].count("attention") == 1
    assert "practice" not in {row["trial_role"] for row in rows}  # not data: left out by default
    for row in rows:
        response = Response.objects.get(trial_id=int(row["trial_id"]))
        trial = response.trial
        assert row["choice_id"] == response.answer["choice"]
        assert row["choice_text"] == next(o["text"] for o in trial.options if o["id"] == row["choice_id"])
        assert row["option_ids"] == "|".join(o["id"] for o in trial.options)
        assert row["viewport_width"] == "1280" and row["scaled"] == "0" and row["dpr"] == "2"
        if row["trial_role"] == "attention":
            assert row["correct"] == str(int(response.answer["choice"] == trial.expected["choice"]))
            assert row["confidence"] == ""
            continue
        adversarial = trial.item.adversarial
        assert row["stimulus_type"] == "adversarial" and row["stimulus_sha256"] == adversarial.sha256
        assert row["attack"] == "pgd" and float(row["attack_eps"]) == 8
        assert row["model_label"] == adversarial.topk[0]["label"]
        assert row["confidence"] == "4" and row["correct"] == ""
        assert row["explanation_display"] == "toggle" and row["explanation_sha256"]
        assert row["explanation_opened"] == "2" and row["explanation_open_ms"] == "1200"
        assert row["rank1_class_id"] == ""  # top-k columns belong to top-k trials
    _, with_practice = download(staff, study.slug, "?practice=1")
    assert [row["trial_role"] for row in with_practice].count("practice") == 1
