"""A study's heatmap normalisation: the overlay its items show (the image set's scale or
each map's own), frozen with the version, handed out by the participant API with a colour
legend drawn from the render's colour map, and recorded in every export and the codebook."""

import csv
import hashlib
import io
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from inference.engine.colormap import CIVIDIS
from inference.models import Explanation
from studies.models import Item, Study, Trial
from studies.services import launch, presentation, presets, versions
from studies.services.export import codebook, rows
from studies.services.stimuli import MISSING_MAP
from tests import factories
from tests.conftest import ParticipantClient
from tests.studies.test_study_admin import form_data

pytestmark = pytest.mark.django_db
Normalisation = Study.HeatmapNormalisation


def heatmap_study(tmp_path, normalisation, live=True, **fields) -> Study:
    fields.setdefault("explanation_display", Study.ExplanationDisplay.SIDE_BY_SIDE)
    return factories.study(
        tmp_path, prepared=True, live=live, slug="heat", heatmap_normalisation=normalisation, **fields
    )


def shown_overlay(explanation: Explanation, normalisation: str) -> tuple[str, str, float]:
    """(url, sha256, scale) of the overlay a study with this normalisation must show."""
    if normalisation == Normalisation.IMAGE:
        sha256, scale = explanation.image_overlay_sha256, explanation.image_scale
    else:
        sha256, scale = explanation.overlay_sha256, explanation.scale
    return f"/stimuli/{sha256}.png", sha256, scale


def participant(study: Study) -> ParticipantClient:
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    return client


def explanation_of(trial: dict) -> Explanation:
    return Trial.objects.select_related("item__explanation").get(pk=trial["id"]).item.explanation


@pytest.mark.parametrize("normalisation", Normalisation.values)
def test_the_participant_api_hands_out_the_overlay_of_the_studys_normalisation(tmp_path, normalisation):
    study = heatmap_study(tmp_path, normalisation)
    assert study.current_version.config["heatmap_normalisation"] == normalisation
    client = participant(study)
    shown = 0
    while (trial := client.next().json()["trial"]) is not None:
        url, sha256, _ = shown_overlay(explanation_of(trial), normalisation)
        image = trial["explanation"]["image"]
        assert (image["url"], image["sha256"]) == (url, sha256)
        # The stimulus server finds either overlay by its hash.
        served = Client().get(url)
        assert served.status_code == 200
        assert hashlib.sha256(b"".join(served.streaming_content)).hexdigest() == sha256
        assert client.respond(trial, client.valid_answer(trial)).status_code == 201
        shown += 1
    assert shown == study.images_per_participant


def test_the_two_overlays_of_a_map_differ_so_the_choice_is_visible_in_what_is_shown(tmp_path):
    # Guards the test above: with one overlay for both choices it would pass vacuously.
    heatmap_study(tmp_path, Normalisation.IMAGE)
    for row in Explanation.objects.all():
        assert row.overlay_sha256 and row.image_overlay_sha256
        assert row.overlay_sha256 != row.image_overlay_sha256


def test_the_legend_is_the_render_colour_map_from_low_to_high(tmp_path):
    study = heatmap_study(
        tmp_path, Normalisation.IMAGE_SET, explanation_display=Study.ExplanationDisplay.TOGGLE
    )
    trial = participant(study).next().json()["trial"]
    stops = trial["explanation"]["legend"]["stops"]
    assert stops[0] == "#00224e 0%" and stops[-1] == "#fee838 100%"
    positions = []
    for stop in stops:
        colour, percent = re.fullmatch(r"(#[0-9a-f]{6}) ([0-9.]+)%", stop).groups()
        index = round(float(percent) * 255 / 100)
        assert colour == "#" + bytes(CIVIDIS[index]).hex()
        positions.append(index)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_example_based_explanations_carry_no_legend(tmp_path):
    study = heatmap_study(
        tmp_path, Normalisation.IMAGE, explanation_display=Study.ExplanationDisplay.EXAMPLES
    )
    trial = participant(study).next().json()["trial"]
    assert trial["explanation"]["display"] == "examples" and "legend" not in trial["explanation"]


def test_a_version_frozen_before_the_choice_existed_shows_the_image_sets_overlay(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE)
    client = participant(study)
    trial = Trial.objects.get(pk=client.next().json()["trial"]["id"])
    config = {k: v for k, v in study.current_version.config.items() if k != "heatmap_normalisation"}
    image = presentation.build(trial, config)["explanation"]["image"]
    assert image["sha256"] == trial.item.explanation.overlay_sha256


def test_an_image_normalised_study_is_not_ready_without_per_image_overlays(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE, live=False)
    Explanation.objects.update(image_overlay="", image_overlay_sha256="", image_scale=None)
    problems = launch.readiness_problems(study)
    assert any(MISSING_MAP in problem for problem in problems), problems
    study.heatmap_normalisation = Normalisation.IMAGE_SET
    assert launch.readiness_problems(study) == []


def test_changing_the_normalisation_of_a_running_study_gives_newcomers_a_new_version(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE_SET)
    first = study.current_version
    early = participant(study)
    before = early.next().json()["trial"]
    study.heatmap_normalisation = Normalisation.IMAGE
    study.save()
    assert launch.edit_problems(study) == {}
    second = launch.revise(study)
    assert second.number == 2
    assert versions.diff(first.config, second.config) == [("heatmap_normalisation", "image_set", "image")]
    late = participant(study).next().json()["trial"]
    assert late["explanation"]["image"]["url"] == shown_overlay(explanation_of(late), "image")[0]
    # Those already in keep their version's overlays, on the trial they saw and the next.
    assert early.next().json()["trial"] == before
    assert early.respond(before, early.valid_answer(before)).status_code == 201
    after = early.next().json()["trial"]
    assert after["explanation"]["image"]["url"] == shown_overlay(explanation_of(after), "image_set")[0]


def test_a_running_study_keeps_its_version_when_the_new_choice_has_no_overlays(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE_SET)
    Explanation.objects.update(image_overlay="", image_overlay_sha256="", image_scale=None)
    study.heatmap_normalisation = Normalisation.IMAGE
    study.save()
    with pytest.raises(launch.NotReady) as refused:
        launch.revise(study)
    assert any(MISSING_MAP in problem for problem in refused.value.problems)
    study.refresh_from_db()
    assert study.current_version.number == 1
    assert study.current_version.config["heatmap_normalisation"] == "image_set"


def test_the_admin_edits_the_normalisation_and_a_running_study_gets_a_new_version(
    tmp_path, django_user_model
):
    study = heatmap_study(tmp_path, Normalisation.IMAGE_SET)
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = admin.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert 'name="heatmap_normalisation"' in page
    reply = admin.post(
        f"/admin/studies/study/{study.pk}/change/", form_data(study, heatmap_normalisation="image")
    )
    assert reply.status_code == 302, reply.context["adminform"].form.errors
    study.refresh_from_db()
    assert study.heatmap_normalisation == "image"
    assert study.current_version.number == 2
    assert study.current_version.config["heatmap_normalisation"] == "image"


def test_an_unknown_normalisation_is_refused_by_the_admin(tmp_path, django_user_model):
    study = heatmap_study(tmp_path, Normalisation.IMAGE_SET)
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    reply = admin.post(
        f"/admin/studies/study/{study.pk}/change/", form_data(study, heatmap_normalisation="per_pixel")
    )
    assert reply.status_code == 200
    assert "heatmap_normalisation" in reply.context["adminform"].form.errors
    study.refresh_from_db()
    assert study.heatmap_normalisation == "image_set" and study.current_version.number == 1


def table(study: Study, name: str) -> list[dict]:
    produced = rows(study, name)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(produced)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


@pytest.mark.parametrize("normalisation", Normalisation.values)
@pytest.mark.parametrize(
    "fields",
    [
        {"task_kind": Study.TaskKind.TOPK_SELECT},  # answers {"selected": [...]}
        {"task_kind": Study.TaskKind.LABEL_CHECK},  # answers {"choice": ..., "confidence": ...}
    ],
)
def test_the_exports_record_the_normalisation_and_the_scale_of_the_overlay_shown(
    tmp_path, normalisation, fields
):
    study = heatmap_study(tmp_path, normalisation, **fields)
    participant(study).complete()
    responses = table(study, "responses")
    assert responses
    header = list(responses[0])
    assert header.index("heatmap_normalisation") == header.index("explanation_sha256") + 1
    assert header.index("explanation_scale") == header.index("heatmap_normalisation") + 1
    for row in responses:
        explanation = Trial.objects.get(pk=int(row["trial_id"])).item.explanation
        _, sha256, scale = shown_overlay(explanation, normalisation)
        assert row["heatmap_normalisation"] == normalisation
        assert (row["explanation_sha256"], float(row["explanation_scale"])) == (sha256, scale)
    items = table(study, "items")
    assert items
    for row in items:
        explanation = Item.objects.get(pk=int(row["item_id"])).explanation
        _, sha256, scale = shown_overlay(explanation, normalisation)
        assert row["heatmap_normalisation"] == normalisation
        assert (row["explanation_sha256"], float(row["explanation_scale"])) == (sha256, scale)


def test_the_exports_leave_the_heatmap_columns_empty_where_no_heatmap_was_shown(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE, explanation_display=Study.ExplanationDisplay.NONE)
    participant(study).complete()
    for name in ("responses", "items"):
        produced = table(study, name)
        assert produced
        assert {(r["heatmap_normalisation"], r["explanation_scale"]) for r in produced} == {("", "")}


def test_the_codebook_documents_the_normalisation_and_its_scale(tmp_path):
    study = heatmap_study(tmp_path, Normalisation.IMAGE)
    book = codebook(study)
    for name in ("responses", "items"):
        entries = {entry["name"]: entry for entry in book["tables"][name]}
        assert entries["heatmap_normalisation"]["values"] == ["image_set", "image"]
        assert "99th percentile" in entries["explanation_scale"]["meaning"]
    assert set(book["heatmaps"]["normalisation"]) == {"image_set", "image"}
    assert "cividis" in book["heatmaps"]["colour_map"]
    frozen = book["reproducibility"]["versions"][0]["config"]
    assert frozen["heatmap_normalisation"] == "image"


def test_the_papers_preset_keeps_one_scale_for_the_image_set(tmp_path):
    source = factories.study(tmp_path, live=False, slug="base")
    preset = presets.PRESETS["adversarial-explanations"]
    assert preset.fields["heatmap_normalisation"] == Normalisation.IMAGE_SET
    study = presets.create("adversarial-explanations", "paper", source.image_set, source.classifier)
    assert study.heatmap_normalisation == "image_set"
