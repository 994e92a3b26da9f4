"""What a study shows, from what the workers computed: which preparations it needs, what is
still missing, and the items frozen at launch.

Invariants:
- Clean stimuli of adversarial and heatmap studies are the model's view of the image
  (resized, centre-cropped, 8-bit), so that a clean image and its adversarial version
  differ only by the perturbation, and heatmaps overlay exactly what is shown.
- Only successful attacks (the stored 8-bit file changes the prediction) become items.
- The label a participant judges is the model's top-1 on the stimulus shown, and an
  explanation is that of the stimulus shown, for that class.
"""

from dataclasses import dataclass, field

from inference.models import AdversarialImage, Explanation, ModelInput, Prediction, PreparationJob
from inference.params import canonical_params
from inference.services import examples as example_images
from inference.services.jobs import explanation_map_key, params_key
from studies.models import Study
from studies.services import audit, blocks, heatmaps

Job = PreparationJob.Kind
Selection = Study.ItemSelection
Display = Study.ExplanationDisplay
HEATMAPS = (Display.SIDE_BY_SIDE, Display.TOGGLE)


def conditions(study: Study) -> list[dict]:
    """The study's between-subjects conditions as frozen at launch; a study without any has
    one, "main", shown as the study says."""
    rows = list(study.conditions.all()) if study.pk else []
    if not rows:
        return [{"name": "main", "weight": 1, "quota": 0, "explanation_display": study.explanation_display}]
    return [
        {
            "name": c.name,
            "weight": c.weight,
            "quota": c.quota,
            "explanation_display": c.explanation_display or study.explanation_display,
        }
        for c in rows
    ]


def displays(study: Study) -> set[str]:
    """Every way explanations are shown in some condition or block: items must support them all."""
    return {c["explanation_display"] for c in conditions(study)} | blocks.block_displays(study)


def uses_adversarial(study: Study) -> bool:
    return study.stimuli != Study.Stimuli.CLEAN


def uses_heatmaps(study: Study) -> bool:
    return bool(displays(study) & set(HEATMAPS))


def uses_examples(study: Study) -> bool:
    return Display.EXAMPLES in displays(study)


def shows_model_view(study: Study) -> bool:
    return uses_adversarial(study) or uses_heatmaps(study)


def _num_classes(study: Study) -> int:
    return study.classifier.num_classes


def attack_params(study: Study) -> dict:
    """The study's attack in canonical form; ValueError names what is wrong."""
    return canonical_params(Job.ADVERSARIAL, study.attack or {}, _num_classes(study))


def explanation_params(study: Study) -> dict:
    params = {"method": study.explanation_method}
    if uses_adversarial(study):
        params.update(on="clean_and_adversarial", attack=study.attack)
    return canonical_params(Job.EXPLANATIONS, params, _num_classes(study))


def required_jobs(study: Study) -> list[tuple[str, dict]]:
    """The preparations the study needs, in the order they must run (later ones read what
    earlier ones stored). ValueError when the study's attack is invalid."""
    jobs = [(Job.PREDICTIONS, {"k": study.k})]
    if uses_adversarial(study):
        jobs.append((Job.ADVERSARIAL, attack_params(study)))
    if uses_heatmaps(study):
        jobs.append((Job.EXPLANATIONS, explanation_params(study)))
    if uses_examples(study) or study.item_selection == Selection.AUDIT:
        jobs += [(Job.FEATURES, {}), (Job.PROTOTYPES, {})]
    if study.item_selection == Selection.AUDIT:
        jobs += [(Job.BIAS, audit.bias_params(study, class_id)) for class_id in audit.class_ids(study)]
    return jobs


def _stimulus(row) -> dict:
    return {"url": row.stimulus_path, "width": row.width, "height": row.height, "sha256": row.sha256}


def _label(entry: dict) -> dict:
    return {"id": entry["class_id"], "text": entry["label"], "rank": entry["rank"], "prob": entry["prob"]}


@dataclass
class Plan:
    """The items a launch would create, and why some images give none."""

    items: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_items(study: Study) -> Plan:
    plan = Plan()
    images = list(study.image_set.images.all())
    if not images:
        plan.problems.append(f"the image set {study.image_set} has no images")
        return plan
    predictions = {
        p.image_id: p for p in Prediction.objects.filter(classifier=study.classifier, image__in=images)
    }
    missing = len(images) - len(predictions)
    if missing:
        plan.problems.append(
            f"{missing} of {len(images)} images have no predictions by {study.classifier} yet "
            "(run `manage.py prepare --study` or the admin's prepare action)"
        )
    short = [p for p in predictions.values() if len(p.topk) < study.k]
    if short:
        plan.problems.append(
            f"{len(short)} predictions have fewer than k={study.k} labels; prepare again with k={study.k}"
        )
    if plan.problems:
        return plan
    try:
        audited = audit.members(study) if study.item_selection == Selection.AUDIT else None
    except ValueError as error:
        plan.problems.append(f"the bias audit is invalid: {error}")
        return plan
    if audited is not None:
        images = [image for image in images if image.pk in audited]
        if not images:
            plan.problems.append("no image to audit yet: prepare the study (prototypes and closest images)")
            return plan
    try:
        subjects = _subjects(study, images, predictions, plan)
        explanations = _explanations(study) if uses_heatmaps(study) else None
    except ValueError as error:
        plan.problems.append(f"the attack is invalid: {error}")
        return plan
    left_out: dict[str, int] = {}
    for image, prediction, adversarial, shown in subjects:
        item, reason = _item(study, image, prediction, adversarial, shown, explanations, audited)
        if item is None:
            left_out[reason] = left_out.get(reason, 0) + 1
        else:
            plan.items.append(item)
    for reason, count in left_out.items():
        message = f"{count} stimuli {reason}"
        (plan.problems if reason == MISSING_MAP else plan.notes).append(message)
    if not plan.items and not plan.problems:
        plan.problems.append("no image gives an item for this task (see the notes)")
    return plan


def _subjects(study, images, predictions, plan):
    """(image, prediction, adversarial or None, stimulus row) for every candidate item."""
    subjects = []
    model_view = shows_model_view(study)
    inputs = {}
    if model_view:
        inputs = {
            m.image_id: m for m in ModelInput.objects.filter(classifier=study.classifier, image__in=images)
        }
        if len(inputs) < len(images):
            plan.problems.append(
                f"{len(images) - len(inputs)} images have no stored model view yet (prepare the study)"
            )
    if study.stimuli != Study.Stimuli.ADVERSARIAL:
        for image in images:
            shown = inputs.get(image.pk) if model_view else image
            if shown is not None:
                subjects.append((image, predictions[image.pk], None, shown))
    if uses_adversarial(study):
        key = params_key(Job.ADVERSARIAL, attack_params(study))
        rows = list(
            AdversarialImage.objects.filter(classifier=study.classifier, params_key=key, image__in=images)
        )
        if len(rows) < len(images):
            plan.problems.append(
                f"{len(images) - len(rows)} images have no adversarial version under this attack yet "
                "(prepare the study)"
            )
        failed = [row for row in rows if not row.success]
        if failed:
            plan.notes.append(f"{len(failed)} attacks did not change the prediction and are left out")
        subjects += [(row.image, predictions[row.image_id], row, row) for row in rows if row.success]
    return subjects


def _explanations(study) -> dict:
    """The explanations whose overlay for the study's heatmap normalisation is rendered, by
    (image, adversarial image or None)."""
    key = explanation_map_key(explanation_params(study))
    rows = Explanation.objects.filter(
        classifier=study.classifier, params_key=key, image__in=study.image_set.images.all()
    )
    normalisation = study.heatmap_normalisation
    return {
        (row.image_id, row.adversarial_id): row for row in rows if heatmaps.is_rendered(row, normalisation)
    }


MISSING_MAP = "have no explanation map yet (prepare the study)"


def _item(study, image, prediction, adversarial, shown, explanations, audited) -> tuple[dict | None, str]:
    """The item for one stimulus, or None and why it is left out."""
    topk = adversarial.topk if adversarial else prediction.topk
    kind = study.task_kind
    if study.item_selection == Selection.MISTAKES:
        if not image.true_class:
            return None, "have no dataset label, so no mistake can be told"
        if prediction.topk[0]["class_id"] == image.true_class:
            return None, "are classified correctly (not mistakes)"
    if audited is not None and kind == Study.TaskKind.LABEL_CHECK:
        # An audit asks whether the audited class describes the image.
        class_id = audited[image.pk]
        text = study.classifier.labels().name_of(class_id)
        labels = [{"id": class_id, "text": text, "rank": None, "prob": None}]
    elif kind == Study.TaskKind.TOPK_SELECT:
        labels = [_label(entry) for entry in topk[: study.k]]
    elif kind == Study.TaskKind.FORCED_CHOICE:
        # Two labels to choose between only where the model and the dataset disagree.
        if not image.true_class:
            return None, "have no dataset label to choose against"
        if topk[0]["class_id"] == image.true_class:
            return None, "are classified as their dataset label (nothing to choose between)"
        dataset = {
            "id": image.true_class,
            "text": image.true_label or image.true_class,
            "rank": None,
            "prob": None,
        }
        labels = [dataset, _label(topk[0])]
    else:
        labels = [_label(topk[0])]
    item = {
        "image": image,
        "prediction": prediction,
        "adversarial": adversarial,
        "stimulus": _stimulus(shown),
        "labels": labels,
        "explanation": None,
        "examples": [],
    }
    if explanations is not None:
        explanation = explanations.get((image.pk, adversarial.pk if adversarial else None))
        if explanation is None:
            return None, MISSING_MAP
        item["explanation"] = explanation
    if uses_examples(study):
        item["examples"] = _examples(study, topk[0]["index"], image)
        if not item["examples"]:
            return None, "are left out: the predicted class has no prototypes in the image set"
    return item, ""


def _examples(study, class_index: int, image) -> list[dict]:
    """Stimuli of the predicted class's prototypes, other than the image itself."""
    ids = [
        i
        for i in example_images.prototypes_of_class(study.classifier, study.image_set, class_index)
        if i != image.pk
    ][: study.examples_count]
    if not ids:
        return []
    rows = {m.image_id: m for m in ModelInput.objects.filter(classifier=study.classifier, image_id__in=ids)}
    originals = {i.pk: i for i in study.image_set.images.filter(pk__in=ids)}
    return [_stimulus(rows.get(i) or originals[i]) for i in ids if i in rows or i in originals]
