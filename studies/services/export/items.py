"""The items table: one row per item of every version, with what the participant saw and
what it was computed from (predictions, attack, explanation), and how often it was judged."""

from collections.abc import Iterator

from django.db.models import Count, Q

from studies.models import Item, Participant, Study, Trial
from studies.services import heatmaps
from studies.services.export.cells import safe

COLUMNS = [
    "study",
    "study_version",
    "item_id",
    "image_sha256",
    "image_name",
    "true_class",
    "true_label",
    "stimulus_type",
    "stimulus_sha256",
    "stimulus_width",
    "stimulus_height",
    "clean_class_id",
    "clean_label",
    "clean_prob",
    "model_class_id",
    "model_label",
    "model_prob",
    "label_ids",
    "label_texts",
    "attack",
    "attack_norm",
    "attack_eps",
    "attack_steps",
    "attack_seed",
    "attack_success",
    "attack_linf",
    "attack_l2",
    "explanation_method",
    "explanation_sha256",
    "heatmap_normalisation",
    "explanation_scale",
    "example_sha256s",
    "judgments",
]


def _row(item: Item) -> list:
    clean = item.prediction.topk[0]
    shown = (item.adversarial.topk if item.adversarial_id else item.prediction.topk)[0]
    adversarial = item.adversarial
    params = adversarial.params if adversarial else {}
    explanation = item.explanation
    # The overlay the item's version shows (both are rendered for every map).
    normalisation = heatmaps.normalisation_of(item.version.config) if explanation else ""
    overlay = heatmaps.overlay(explanation, normalisation) if explanation else None
    return [
        item.version.study.slug,
        item.version.number,
        item.id,
        item.image.sha256,
        item.image.original_name,
        item.image.true_class,
        item.image.true_label,
        "adversarial" if adversarial else "clean",
        item.stimulus["sha256"],
        item.stimulus["width"],
        item.stimulus["height"],
        clean["class_id"],
        clean["label"],
        clean["prob"],
        shown["class_id"],
        shown["label"],
        shown["prob"],
        "|".join(label["id"] for label in item.labels),
        "|".join(label["text"] for label in item.labels),
        params.get("attack", ""),
        params.get("norm", ""),
        params.get("eps", ""),
        params.get("steps", ""),
        params.get("seed", ""),
        int(adversarial.success) if adversarial else "",
        adversarial.linf if adversarial else "",
        adversarial.l2 if adversarial else "",
        explanation.method if explanation else "",
        overlay.sha256 if overlay else "",
        normalisation,
        overlay.scale if overlay and overlay.scale is not None else "",
        "|".join(example["sha256"] for example in item.examples),
        item.judgments,
    ]


def item_rows(study: Study) -> Iterator[list]:
    """The header, then every item of every version, by version and id. `judgments`
    counts answered data trials of real, valid participants."""
    yield COLUMNS
    valid = Q(
        trials__role=Trial.Role.MAIN,
        trials__response__isnull=False,
        trials__participant__kind=Participant.Kind.REAL,
        trials__participant__excluded=False,
    )
    items = (
        Item.objects.filter(version__study=study)
        .select_related("version__study", "image", "prediction", "adversarial", "explanation")
        .annotate(judgments=Count("trials", filter=valid))
        .order_by("version__number", "id")
    )
    for item in items.iterator(chunk_size=1000):
        yield safe(_row(item))
