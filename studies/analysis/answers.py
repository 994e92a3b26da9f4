"""The answers an analysis reads: the answered data trials of valid, real participants, as
light records. Participants, versions and items are read once, answers as plain values;
the results page loads them once per task kind and hands them to every analysis."""

import json
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import TextField
from django.db.models.functions import Cast

from studies.models import Item, Participant, Response, Study, Trial
from studies.services import allocation, task_kinds


@dataclass(slots=True)
class _Trial:
    """What allocation.display_of reads of a trial."""

    block: str
    participant: Participant


@dataclass(slots=True)
class Answer:
    participant_id: int
    condition: str
    display: str
    item: Item
    answer: dict


def load(study: Study, kind: str) -> list[Answer]:
    valid = Participant.objects.filter(study=study, kind=Participant.Kind.REAL, excluded=False)
    versions = {version.id: version for version in study.versions.all()}
    participants = {}
    for participant in valid.iterator(chunk_size=2000):
        participant.version = versions[participant.version_id]
        participants[participant.id] = participant
    items = {item.id: item for item in Item.objects.filter(version__study=study).select_related("image")}
    # Answers as JSON text, each distinct one decoded once: a study has few distinct answers
    # (they are shared, read-only, by the rows that gave them).
    rows = (
        Response.objects.filter(trial__participant__in=valid, trial__role=Trial.Role.MAIN, trial__kind=kind)
        .order_by("id")
        .annotate(answer_json=Cast("answer", TextField()))
        .values_list("trial__participant_id", "trial__block", "trial__item_id", "answer_json")
    )
    decode = lru_cache(maxsize=4096)(lambda text: task_kinds.typed_answer(json.loads(text)))
    displays: dict[tuple[int, str], str] = {}
    found = []
    for participant_id, block, item_id, answer in rows:
        participant = participants[participant_id]
        display = displays.get((participant_id, block))
        if display is None:
            display = displays[(participant_id, block)] = allocation.display_of(_Trial(block, participant))
        found.append(Answer(participant_id, participant.condition, display, items[item_id], decode(answer)))
    return found
