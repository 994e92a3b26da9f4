"""What a trial shows besides its question: the stimulus, the explanation beside it (or
none) and whether a confidence rating is asked; and the trial as the participant API hands
it out (contract v1, architecture.md §4).

A trial's presentation is decided once, when it is assigned, and stored with it
(Trial.presentation). Everything it depends on is frozen by then: the version's config,
the participant's condition and block, the item's stimulus and explanation. `next` runs
for every trial of every session, and reading one stored column is what keeps it cheap
(bench/load.py): rebuilding it meant joining five tables per request."""

from studies.models import Participant, Trial
from studies.services import allocation, heatmaps, task_kinds

Role = Trial.Role


def build(trial: Trial, config: dict) -> dict:
    """The presentation of `trial` (its participant, condition and item already set)."""
    return {
        "image": trial.item.stimulus,
        "explanation": _explanation(trial, config),
        "confidence": task_kinds.asks_confidence(trial, config),
        # Versions frozen before the display scale existed showed stimuli at 1×.
        "display_scale": config.get("display_scale", 1),
    }


def _explanation(trial: Trial, config: dict) -> dict | None:
    display = allocation.display_of(trial)
    if display == "none" or trial.role == Role.ATTENTION:
        return None
    item = trial.item
    # What the explanation explains, and its caption names: the model's label on the
    # stimulus shown, which is what the trial asks about (task_kinds.question). A bias
    # audit asks about its audited class instead, and shows no explanation (launch.readiness).
    explained = task_kinds.model_label(item)
    label = task_kinds.quoted(explained["text"])
    if display == "examples":
        return {
            "display": display,
            "method": None,
            "label": explained,
            "caption": f"Images the model considers typical of {label}",
            "image": None,
            "examples": item.examples,
        }
    overlay = heatmaps.overlay(item.explanation, heatmaps.normalisation_of(config))
    stimulus = item.stimulus
    return {
        "display": display,
        "method": config["explanation_method"],
        "label": explained,
        "caption": f"Where the model looked when it answered {label}",
        "image": {
            "url": overlay.url,
            "width": stimulus["width"],
            "height": stimulus["height"],
            "sha256": overlay.sha256,
        },
        "examples": [],
        "legend": heatmaps.legend(),
    }


def payload(trial, options: list, shown: dict) -> dict:
    """The trial object of the participant API, from a trial's columns (`id`, `index`,
    `kind`, `role`, `prompt`), its options and its presentation."""
    return {
        "id": trial.id,
        "index": trial.index,
        "kind": trial.kind,
        "prompt": trial.prompt,
        "image": shown["image"],
        "explanation": shown["explanation"],
        "options": options,
        "multi": trial.kind == task_kinds.Kind.TOPK_SELECT,
        "confidence": shown["confidence"],
        "practice": trial.role == Role.PRACTICE,
        "display_scale": shown.get("display_scale", 1),
    }


def image_urls(shown: dict) -> list[str]:
    """Every image a presentation shows, for the browser to preload."""
    explanation = shown["explanation"] or {}
    extra = [explanation["image"]] if explanation.get("image") else []
    return [image["url"] for image in [shown["image"], *extra, *explanation.get("examples", [])]]


def backfill(participant: Participant, trial_ids: list[int]) -> dict[int, dict]:
    """Presentations of trials assigned before they were stored (migration 0015), built now
    from the same frozen inputs and stored: {trial id: presentation}."""
    config = participant.version.config
    trials = Trial.objects.filter(participant=participant, pk__in=trial_ids).select_related(
        "item__image", "item__prediction", "item__adversarial", "item__explanation"
    )
    built = {}
    for trial in trials:
        trial.participant = participant
        trial.presentation = build(trial, config)
        trial.save(update_fields=["presentation"])
        built[trial.pk] = trial.presentation
    return built
