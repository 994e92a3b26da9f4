"""Label checks, manipulation checks and agreement (the paper's second study and the
reliability of every judgment), from the answered data trials of valid real participants.

- Label checks: the share of "yes" (the model's label is reasonable) per stimulus type and
  explanation display, and for each stimulus type the difference with versus without an
  explanation, tested by permuting whole participants (their answers are not independent).
  A participant who saw both displays (within-subject blocks) counts as one cluster per
  display, an approximation the page states.
- Manipulation checks: hit and false-alarm rates and d' per explanation display.
- Agreement per task kind, condition and display: Fleiss' kappa on the items with the most common
  number of raters, Krippendorff's alpha (nominal) on every item.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from studies.analysis.statistics import (
    Estimate,
    cluster_permutation_test,
    dprime,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    wilson,
)
from studies.models import Participant, Response, Study, Trial
from studies.services import allocation

NO_EXPLANATION = "none"


def _answers(study: Study, kind: str):
    """(participant id, display, item, answer, condition) for the study's valid data answers
    of `kind`."""
    responses = (
        Response.objects.filter(
            trial__participant__study=study,
            trial__participant__kind=Participant.Kind.REAL,
            trial__participant__excluded=False,
            trial__role=Trial.Role.MAIN,
            trial__kind=kind,
        )
        .select_related("trial__participant__version", "trial__item")
        .order_by("id")
    )
    for response in responses.iterator(chunk_size=2000):
        trial = response.trial
        participant = trial.participant
        yield participant.id, allocation.display_of(trial), trial.item, response.answer, participant.condition


def label_checks(study: Study) -> dict:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    people: dict[tuple[str, str], set[int]] = defaultdict(set)
    clusters: dict[str, dict[tuple[int, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    for participant, display, item, answer, _ in _answers(study, Study.TaskKind.LABEL_CHECK):
        stimulus = "adversarial" if item.adversarial_id else "clean"
        yes = int(answer.get("choice") == "yes")
        groups[(stimulus, display)].append(yes)
        people[(stimulus, display)].add(participant)
        shown = "with" if display != NO_EXPLANATION else "without"
        clusters[stimulus][(participant, shown)].append(yes)
    rates = [
        {
            "stimulus": stimulus,
            "display": display,
            "accepted": wilson(sum(v), len(v)),
            "participants": len(people[(stimulus, display)]),
        }
        for (stimulus, display), v in sorted(groups.items())
    ]
    effects = []
    for stimulus, by_participant in sorted(clusters.items()):
        pairs = [(shown, answers) for (_, shown), answers in by_participant.items()]
        difference, p_value = cluster_permutation_test(pairs, "with", "without")
        effects.append(
            {
                "stimulus": stimulus,
                "difference": difference,
                "p_value": p_value,
                "participants": len({p for p, _ in by_participant}),
            }
        )
    return {"rates": rates, "explanation_effect": effects}


def manipulation_checks(study: Study) -> list[dict]:
    cells: dict[str, Counter] = defaultdict(Counter)
    for _, display, item, answer, _ in _answers(study, Study.TaskKind.MANIPULATION_CHECK):
        said_altered = answer.get("choice") == "yes"
        key = (
            ("hit" if said_altered else "miss")
            if item.altered
            else ("false_alarm" if said_altered else "correct_rejection")
        )
        cells[display][key] += 1
    rows = []
    for display, c in sorted(cells.items()):
        rows.append(
            {
                "display": display,
                "hit_rate": wilson(c["hit"], c["hit"] + c["miss"]),
                "false_alarm_rate": wilson(c["false_alarm"], c["false_alarm"] + c["correct_rejection"]),
                "dprime": dprime(c["hit"], c["miss"], c["false_alarm"], c["correct_rejection"]),
            }
        )
    return rows


def agreement(study: Study) -> list[dict]:
    kinds = [
        Study.TaskKind.TOPK_SELECT,
        Study.TaskKind.LABEL_CHECK,
        Study.TaskKind.FORCED_CHOICE,
        Study.TaskKind.MANIPULATION_CHECK,
    ]
    rows = []
    for kind in kinds:
        units: dict[tuple[str, str], dict[tuple, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
        for participant, display, item, answer, condition in _answers(study, kind):
            group = (condition, display)
            if kind == Study.TaskKind.TOPK_SELECT:
                selected = set(answer.get("selected", []))
                for label in [*item.labels, {"id": "none"}]:
                    units[group][(item.id, label["id"])][participant] = (
                        "yes" if label["id"] in selected else "no"
                    )
            else:
                units[group][(item.id,)][participant] = answer.get("choice")
        for (condition, display), by_unit in sorted(units.items()):
            rows.append(
                {"task_kind": kind, "condition": condition, "display": display, **_agreement(by_unit)}
            )
    return rows


def _agreement(by_unit: dict[tuple, dict[int, str]]) -> dict:
    raters = sorted({r for ratings in by_unit.values() for r in ratings})
    column = {r: n for n, r in enumerate(raters)}
    matrix = [[None] * len(by_unit) for _ in raters]
    for u, ratings in enumerate(by_unit.values()):
        for rater, value in ratings.items():
            matrix[column[rater]][u] = value
    alpha = krippendorff_alpha_nominal(matrix)
    sizes = Counter(len(r) for r in by_unit.values() if len(r) >= 2)
    if not sizes:
        return {
            "units": len(by_unit),
            "fleiss_kappa": Estimate.missing("no item has two or more raters"),
            "krippendorff_alpha": alpha,
        }
    common = sizes.most_common(1)[0][0]
    chosen = [r for r in by_unit.values() if len(r) == common]
    categories = sorted({v for r in chosen for v in r.values()}, key=str)
    table = np.array([[list(r.values()).count(c) for c in categories] for r in chosen])
    return {"units": len(by_unit), "fleiss_kappa": fleiss_kappa(table), "krippendorff_alpha": alpha}
