"""Within-subject blocks in a Latin square: every participant judges every level, each in
its own block; across participants each image is judged in each level equally often and
each level comes first equally often; nobody sees two versions of one image."""

from collections import Counter

import pytest
from rest_framework.test import APIClient

from inference.labelsets import imagenet_1k
from studies.models import Participant, Trial
from studies.services import launch as lifecycle
from tests import factories
from tests.conftest import ParticipantClient

pytestmark = pytest.mark.django_db
DISPLAY_LEVELS = [
    {"name": "without", "explanation_display": "none"},
    {"name": "with", "explanation_display": "side_by_side"},
]
STIMULI_LEVELS = [{"name": "clean", "stimuli": "clean"}, {"name": "attacked", "stimuli": "adversarial"}]
ATTACK = {"attack": "pgd", "eps": 4, "steps": 10}


def make(tmp_path, levels, **fields):
    return factories.study(
        tmp_path,
        n_images=4,
        per_participant=4,
        prepared=True,
        slug="blocks",
        task_kind="label_check",
        labels=imagenet_1k().class_ids[:4],
        blocks=levels,
        **fields,
    )


def run(study) -> list[dict]:
    client = ParticipantClient(APIClient(), study.slug)
    client.enter()
    client.consent()
    shown = []
    while (trial := client.next().json()["trial"]) is not None:
        shown.append(trial)
        client.respond(trial, client.valid_answer(trial))
    return shown


def test_explanation_blocks_rotate_images_and_block_order_across_participants(tmp_path):
    study = make(tmp_path, DISPLAY_LEVELS, explanation_display="none")
    sessions = [run(study) for _ in range(4)]
    per_level = Counter()
    first_blocks = Counter()
    for shown in sessions:
        stored = [Trial.objects.get(pk=t["id"]) for t in shown]
        levels = [t.block for t in stored]
        # Two blocks of two trials, one level after the other.
        assert levels in (["without"] * 2 + ["with"] * 2, ["with"] * 2 + ["without"] * 2)
        first_blocks[levels[0]] += 1
        for payload, trial in zip(shown, stored, strict=True):
            display = (payload["explanation"] or {}).get("display", "none")
            assert display == ("side_by_side" if trial.block == "with" else "none")
            per_level[(trial.item.image_id, trial.block)] += 1
    assert set(per_level.values()) == {2}  # every image twice in every level
    assert first_blocks == {"without": 2, "with": 2}
    assert sorted(Participant.objects.values_list("rotation", flat=True)) == [0, 0, 1, 1]


def test_clean_and_adversarial_blocks_show_each_image_once_per_participant(tmp_path):
    study = make(tmp_path, STIMULI_LEVELS, stimuli="both", attack=ATTACK)
    versions = Counter()
    for _ in range(2):
        shown = run(study)
        stored = [Trial.objects.get(pk=t["id"]) for t in shown]
        images = [t.item.image_id for t in stored]
        assert len(images) == len(set(images)) == 4
        for trial in stored:
            assert trial.item.altered == (trial.block == "attacked")
            versions[(trial.item.image_id, trial.item.altered)] += 1
    assert set(versions.values()) == {1} and len(versions) == 8  # each image once clean, once attacked


def test_the_export_names_each_trials_block(tmp_path):
    from studies.services.export import response_rows

    study = make(tmp_path, DISPLAY_LEVELS)
    run(study)
    rows = list(response_rows(study))
    header, data = rows[0], rows[1:]
    block, display = header.index("block"), header.index("explanation_display")
    assert sorted((row[block], row[display]) for row in data) == [
        ("with", "side_by_side"),
        ("with", "side_by_side"),
        ("without", "none"),
        ("without", "none"),
    ]


@pytest.mark.parametrize(
    ("levels", "fields", "expected"),
    [
        ([DISPLAY_LEVELS[0]], {}, "blocks need at least two levels"),
        ([DISPLAY_LEVELS[0], STIMULI_LEVELS[0]], {}, "block levels vary one thing"),
        (STIMULI_LEVELS, {}, "clean and adversarial blocks need the study's stimuli to be both"),
        ([DISPLAY_LEVELS[0], DISPLAY_LEVELS[0]], {}, "block levels need distinct names"),
        (
            [{"name": "x", "explanation_display": "hologram"}, DISPLAY_LEVELS[0]],
            {},
            "block level x: explanation",
        ),
        ([{"name": "x"}, DISPLAY_LEVELS[0]], {}, "block level 1 must have a name and one setting"),
        (DISPLAY_LEVELS * 1, {"images_per_participant": 1}, "2 blocks need at least as many images"),
    ],
)
def test_impossible_blocks_are_refused_before_launch(tmp_path, levels, fields, expected):
    study = factories.study(tmp_path, live=False, slug="bad", task_kind="label_check", blocks=levels)
    for name, value in fields.items():
        setattr(study, name, value)
    study.save()
    with pytest.raises(lifecycle.NotReady) as refused:
        lifecycle.launch(study)
    assert any(problem.startswith(expected) for problem in refused.value.problems), refused.value.problems
