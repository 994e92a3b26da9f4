"""Within-subject blocks: every participant judges each level of a within-subject factor
(with and without explanation, clean and adversarial images) in its own block.

Latin square: participants of a condition get rotations 0, 1, …, B-1 in turn (B levels).
A participant's images, in a fixed order (by image), go to levels (i + rotation) mod B, and
the blocks come in the order rotation, rotation + 1, … mod B. Over every B participants
judging the same images, each image is judged in each level equally often and each level
comes in each position equally often. Nobody sees two versions of one image: a level of
clean or adversarial stimuli takes that version of the image.
"""

import random

from studies.models import Item, Participant, Study

Display = Study.ExplanationDisplay
STIMULI_LEVELS = ("clean", "adversarial")


def validate(study: Study) -> list[dict]:
    """The study's levels in canonical form; ValueError naming what is wrong."""
    levels = study.blocks
    if not levels:
        return []
    if not isinstance(levels, list) or len(levels) < 2:
        raise ValueError("blocks need at least two levels, e.g. with and without explanation")
    kinds, names = set(), []
    for n, level in enumerate(levels, start=1):
        if not isinstance(level, dict) or "name" not in level or len(level) != 2:
            raise ValueError(
                f"block level {n} must have a name and one setting (explanation_display or stimuli)"
            )
        name, (setting, value) = level["name"], next((k, v) for k, v in level.items() if k != "name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"block level {n} needs a name")
        if setting == "explanation_display" and value not in Display.values:
            raise ValueError(
                f"block level {name}: explanation_display must be one of {', '.join(Display.values)}"
            )
        if setting == "stimuli" and value not in STIMULI_LEVELS:
            raise ValueError(f"block level {name}: stimuli must be clean or adversarial")
        if setting not in ("explanation_display", "stimuli"):
            raise ValueError(f"block level {name}: unknown setting {setting!r}")
        kinds.add(setting)
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError("block levels need distinct names")
    if len(kinds) > 1:
        raise ValueError("block levels vary one thing: explanation_display or stimuli, not both")
    if "stimuli" in kinds and study.stimuli != Study.Stimuli.BOTH:
        raise ValueError("clean and adversarial blocks need the study's stimuli to be both")
    if len(levels) > study.images_per_participant:
        raise ValueError(f"{len(levels)} blocks need at least as many images per participant")
    return [dict(level) for level in levels]


def block_displays(study: Study) -> set[str]:
    return {level["explanation_display"] for level in study.blocks or [] if "explanation_display" in level}


def next_rotation(participant: Participant) -> int:
    """The next Latin-square row in the participant's condition. The caller holds the
    study's row lock, so two consents never take the same row."""
    earlier = Participant.objects.filter(
        study=participant.study,
        condition=participant.condition,
        kind=participant.kind,
        rotation__isnull=False,
    ).count()
    return earlier % len(participant.version.config["blocks"])


def needs_both_versions(config: dict) -> bool:
    return any("stimuli" in level for level in config.get("blocks", []))


def arrange(participant: Participant, chosen: list[Item], rng: random.Random) -> list[tuple[str, Item]]:
    """(level name, item) for each chosen image, block by block in the rotated order,
    shuffled within a block; stimuli levels take their version of the image."""
    levels = participant.version.config["blocks"]
    rotation = participant.rotation
    versions = _versions(participant, chosen) if "stimuli" in levels[0] else {}
    by_level: dict[int, list[Item]] = {n: [] for n in range(len(levels))}
    for i, item in enumerate(sorted(chosen, key=lambda item: (item.image_id, item.id))):
        level = (i + rotation) % len(levels)
        wanted = levels[level].get("stimuli")
        by_level[level].append(versions.get((item.image_id, wanted), item) if wanted else item)
    arranged = []
    for step in range(len(levels)):
        level = (rotation + step) % len(levels)
        block = by_level[level]
        rng.shuffle(block)
        arranged += [(levels[level]["name"], item) for item in block]
    return arranged


def _versions(participant: Participant, chosen: list[Item]) -> dict[tuple[int, str], Item]:
    """{(image id, "clean" | "adversarial"): item} for the chosen images."""
    items = Item.objects.filter(version=participant.version, image_id__in=[i.image_id for i in chosen])
    return {
        (item.image_id, "adversarial" if item.adversarial_id else "clean"): item
        for item in items.select_related("image", "prediction", "adversarial")
    }


def level_of(config: dict, name: str) -> dict:
    return next((level for level in config.get("blocks", []) if level["name"] == name), {})
