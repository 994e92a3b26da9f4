"""The codebook: every column of every export with its meaning, type, units and allowed
values, plus what a reader needs to reproduce the study (the frozen versions, the
classifier and its weights, library versions, seeds and preparation parameters). Column
types and the rules for text cells are those of cells.py. An empty cell means "does not
apply"."""

import re
from importlib import metadata

import config
from inference.models import PreparationJob
from studies.models import Participant, Study, Trial
from studies.services.export import items, participants, responses
from studies.services.export.cells import FLAG, INT, LIST, NUM, STR, TEXT_CELLS, TIME, TYPES

KINDS = ["topk_select", "label_check", "forced_choice", "manipulation_check", "attention"]
# name: (meaning, type, units, allowed values)
DOCS = {
    "study": ("The study's slug", STR, "", ""),
    "study_version": ("The frozen version the participant ran under (or the item belongs to)", INT, "", ""),
    "participant": ("Pseudonym of the participant (never a recruitment id)", STR, "", ""),
    "participant_status": ("How the session ended", STR, "", Participant.Status.values),
    "participant_kind": ("real, or pilot / preview (test) participants", STR, "", Participant.Kind.values),
    "condition": ("The between-subjects condition", STR, "", ""),
    "rotation": ("The Latin-square row (studies with within-subject blocks)", INT, "", ""),
    "excluded": ("An exclusion rule fired for this participant", FLAG, "", [0, 1]),
    "exclusion_rules": ("The rules that fired", LIST, "", ""),
    "consent_version": ("The consent text version accepted", INT, "", ""),
    "entered_at": ("When the participant opened the study", TIME, "", ""),
    "consented_at": ("When consent was given", TIME, "", ""),
    "finished_at": ("When the session ended (any outcome)", TIME, "", ""),
    "trials": ("Trials that count (all but practice)", INT, "trials", ""),
    "answered": ("Of those, answered", INT, "trials", ""),
    "skipped": (
        "Of those, skipped because the browser could not load or verify the image",
        INT,
        "trials",
        "",
    ),
    "attention_checks": ("Attention checks given", INT, "trials", ""),
    "attention_failed": ("Attention checks answered otherwise than asked", INT, "trials", ""),
    "gold_trials": ("Gold trials (known answer) given", INT, "trials", ""),
    "gold_correct": ("Gold trials answered correctly", INT, "trials", ""),
    "median_rt_ms": ("Median reaction time over answered data trials", NUM, "ms", ""),
    "hidden_ms": (
        "Time the page was hidden (tab switch, blur): in the trial (responses), in all (participants)",
        INT,
        "ms",
        "",
    ),
    "hidden_count": ("Times the page was hidden during the trial", INT, "", ""),
    "trial_index": ("Position of the trial in the session, from 0", INT, "", ""),
    "trial_id": ("The trial's id", INT, "", ""),
    "trial_role": ("main (data), attention, gold or practice", STR, "", Trial.Role.values),
    "block": ("The within-subject level the trial belongs to", STR, "", ""),
    "task_kind": ("What the trial asked", STR, "", KINDS),
    "item_id": ("The item (stimulus with its labels) judged", INT, "", ""),
    "image_sha256": ("sha256 of the source image file", STR, "", ""),
    "image_name": ("Path the source image was imported from", STR, "", ""),
    "image_width": ("Width of the source image", INT, "px", ""),
    "image_height": ("Height of the source image", INT, "px", ""),
    "true_class": ("The dataset's class id for the image", STR, "", ""),
    "true_label": ("The dataset's label for the image", STR, "", ""),
    "classifier": ("The classifier's name", STR, "", ""),
    "classifier_weights_sha256": ("sha256 of the classifier's weights", STR, "", ""),
    "stimulus_type": (
        "What was shown: the clean image or its adversarial version",
        STR,
        "",
        ["clean", "adversarial"],
    ),
    "stimulus_sha256": ("sha256 of the file shown", STR, "", ""),
    "stimulus_width": ("Width of the file shown", INT, "px", ""),
    "stimulus_height": ("Height of the file shown", INT, "px", ""),
    "attack": (
        "The attack that made the adversarial stimulus",
        STR,
        "",
        ["fgsm", "bim", "pgd", "deepfool", "cw"],
    ),
    "attack_norm": ("The attack's norm", STR, "", ["linf", "l2"]),
    "attack_eps": ("The attack's budget", NUM, "1/255", ""),
    "attack_steps": ("The attack's iterations", INT, "", ""),
    "attack_seed": ("The attack's seed", INT, "", ""),
    "attack_success": ("The stored 8-bit file changes the prediction", FLAG, "", [0, 1]),
    "attack_linf": ("L-infinity distance of the stored file to the clean model input", NUM, "1/255", ""),
    "attack_l2": ("L2 distance of the stored file to the clean model input", NUM, "[0, 1] pixel units", ""),
    "model_class_id": ("The model's top-1 class on the stimulus shown", STR, "", ""),
    "model_label": ("The model's top-1 label on the stimulus shown", STR, "", ""),
    "model_prob": ("The model's top-1 probability on the stimulus shown", NUM, "probability", ""),
    "clean_class_id": ("The model's top-1 class on the clean image", STR, "", ""),
    "clean_label": ("The model's top-1 label on the clean image", STR, "", ""),
    "clean_prob": ("The model's top-1 probability on the clean image", NUM, "probability", ""),
    "label_ids": ("The item's labels (top-k, the label checked, or dataset and model labels)", LIST, "", ""),
    "label_texts": ("The same labels, as shown", LIST, "", ""),
    "explanation_display": ("How the explanation was shown", STR, "", Study.ExplanationDisplay.values),
    "explanation_method": ("The saliency method of the heatmap", STR, "", Study.ExplanationMethod.values),
    "explanation_sha256": ("sha256 of the heatmap overlay shown", STR, "", ""),
    "heatmap_normalisation": (
        "How the heatmap's colours were scaled (see the codebook's heatmaps): by the image set's 99th "
        "percentile of relevance, or by the map's own",
        STR,
        "",
        Study.HeatmapNormalisation.values,
    ),
    "explanation_scale": (
        "Relevance shown at full colour in the overlay shown: the image set's 99th percentile of "
        "|relevance| (heatmap_normalisation image_set) or this map's own (image)",
        NUM,
        "the saliency method's relevance",
        "",
    ),
    "example_sha256s": ("The prototype images shown as example-based explanation", LIST, "", ""),
    "judgments": ("Answered data trials of real, valid participants", INT, "trials", ""),
    "prompt": ("The question as shown", STR, "", ""),
    "none_selected": ("'None of these' was selected (top-k trials)", FLAG, "", [0, 1]),
    "selected_labels": ("Labels selected (top-k trials)", LIST, "", ""),
    "option_ids": ("The options' ids in the order shown", LIST, "", ""),
    "option_texts": ("The options in the order shown", LIST, "", ""),
    "choice_id": ("The option chosen (single-choice trials)", STR, "", ""),
    "choice_text": ("The option chosen, as shown", STR, "", ""),
    "choice_position": ("Position of the chosen option, from 1 (left or top)", INT, "", ""),
    "confidence": ("Confidence given", INT, "1 (not at all sure) to 5 (completely sure)", [1, 2, 3, 4, 5]),
    "expected": ("The answer asked for (attention) or known (gold, practice)", STR, "", ""),
    "correct": ("The answer is the expected one", FLAG, "", [0, 1]),
    "rt_ms": ("Reaction time: first painted frame of the stimulus to the answer", INT, "ms", ""),
    "presented_at": ("When the server first handed out the trial", TIME, "", ""),
    "answered_at": ("When the server stored the answer", TIME, "", ""),
    "dpr": ("The browser's devicePixelRatio", NUM, "", ""),
    "viewport_width": ("Browser viewport width", INT, "CSS px", ""),
    "viewport_height": ("Browser viewport height", INT, "CSS px", ""),
    "displayed_width": ("Displayed width of the stimulus", INT, "CSS px", ""),
    "displayed_height": ("Displayed height of the stimulus", INT, "CSS px", ""),
    "scaled": (
        "A stimulus or explanation image was not shown pixel-exact: scaled down to fit the screen, or "
        "resized by the browser to other than display_scale times its size",
        FLAG,
        "",
        [0, 1],
    ),
    "display_scale": (
        "The scale the images were shown at (nearest neighbour): the study's display_scale_requested, "
        "or the largest whole number that fitted the screen; below 1 where even 1× did not fit",
        NUM,
        "× file size",
        "",
    ),
    "display_scale_requested": (
        "The study's display scale: images enlarged by this whole number where the screen allows",
        INT,
        "× file size",
        [1, 2, 3, 4],
    ),
    "input": ("How the answer was given", STR, "", ["key", "mouse", "touch"]),
    "explanation_opened": ("Times the participant opened the heatmap (toggle display)", INT, "", ""),
    "explanation_open_ms": ("Total time the heatmap was open", INT, "ms", ""),
}
# How a heatmap overlay was drawn (inference.engine.saliency.normalize, inference.engine.render).
HEATMAPS = {
    "intensity": "clip(|relevance| / explanation_scale, 0, 1) per pixel; the overlay blends the "
    "colour of that intensity onto the stimulus with opacity 0.5 × intensity",
    "colour_map": "cividis, dark blue (low relevance) to yellow (high); the participant page shows "
    "it as a legend labelled low … high relevance",
    "normalisation": {
        "image_set": "explanation_scale is the 99th percentile of |relevance| over every pixel of the "
        "image set's clean maps (same classifier, method and parameters): one scale for all maps, so "
        "maps are comparable across images and conditions; weak maps may look almost empty",
        "image": "explanation_scale is the 99th percentile of |relevance| of the map alone: every "
        "map uses the whole colour map, so maps are not comparable in strength",
    },
}
RANK = re.compile(r"rank(\d+)_(class_id|label|prob|position|selected)")
RANK_DOCS = {
    "class_id": ("Class id of the model's rank-{n} label (top-k trials)", STR, "", ""),
    "label": ("The model's rank-{n} label", STR, "", ""),
    "prob": ("The model's probability for its rank-{n} label", NUM, "probability", ""),
    "position": ("Position at which the rank-{n} label was shown, from 1", INT, "", ""),
    "selected": ("The rank-{n} label was selected", FLAG, "", [0, 1]),
}


def describe(column: str) -> dict:
    """One column's entry; KeyError for a column nobody documented (a test checks all)."""
    match = RANK.fullmatch(column)
    if match:
        meaning, kind, units, values = RANK_DOCS[match.group(2)]
        meaning = meaning.format(n=match.group(1))
    else:
        meaning, kind, units, values = DOCS[column]
    return {"name": column, "meaning": meaning, "type": kind, "units": units, "values": values or []}


def _versions_of(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def codebook(study: Study) -> dict:
    tables = {
        "responses": responses.header(responses.max_k(study)),
        "participants": participants.COLUMNS,
        "items": items.COLUMNS,
    }
    classifier = study.classifier
    jobs = PreparationJob.objects.filter(image_set=study.image_set, classifier=classifier).order_by("id")
    return {
        "study": study.slug,
        "types": TYPES,
        "text_cells": TEXT_CELLS,
        "tables": {name: [describe(column) for column in columns] for name, columns in tables.items()},
        "defaults": "Left out unless asked for: practice answers, pilot and preview participants, "
        "excluded participants (see participant_kind, trial_role and excluded).",
        "heatmaps": HEATMAPS,
        "reproducibility": {
            "secondlook": config.VERSION,
            "libraries": _versions_of(
                "django", "djangorestframework", "torch", "torchvision", "timm", "captum"
            ),
            "classifier": {
                "name": classifier.name,
                "architecture": classifier.architecture,
                "weights_sha256": classifier.weights_sha256,
                "preprocessing": classifier.preprocessing,
            },
            "study_seed": study.seed,
            "preparations": [
                {"id": job.id, "kind": job.kind, "params": job.params, "status": job.status} for job in jobs
            ],
            "versions": [
                {"number": v.number, "created_at": v.created_at.isoformat(), "config": v.config}
                for v in study.versions.order_by("number")
            ],
        },
    }
