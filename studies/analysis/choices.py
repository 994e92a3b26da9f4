"""Label checks, manipulation checks and agreement (the paper's second study and the
reliability of every judgment), from the answered data trials of valid real participants.

- Label checks: the share of "yes" (the model's label is reasonable) per stimulus type and
  explanation display, and for each stimulus type the difference with versus without an
  explanation, tested by permuting whole participants (their answers are not independent).
  Participants who saw both (within-subject blocks) are compared with themselves instead:
  a sign-flip permutation test of their own differences.
- Manipulation checks: hit and false-alarm rates and d' per explanation display.
- Agreement per task kind, condition and display: Fleiss' kappa on the items with the most common
  number of raters, Krippendorff's alpha (nominal) on every item.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from studies.analysis import answers
from studies.analysis.statistics import (
    Estimate,
    cluster_permutation_test,
    dprime,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    paired_permutation_test,
    wilson,
)
from studies.models import Study

NO_EXPLANATION = "none"


def label_checks(study: Study, given: list[answers.Answer] | None = None) -> dict:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    people: dict[tuple[str, str], set[int]] = defaultdict(set)
    clusters: dict[str, dict[tuple[int, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    given = answers.load(study, Study.TaskKind.LABEL_CHECK) if given is None else given
    for row in given:
        participant, display, item, answer = row.participant_id, row.display, row.item, row.answer
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
        both = sorted(
            {p for p, shown in by_participant if shown == "with"}
            & {p for p, shown in by_participant if shown == "without"}
        )
        if both:
            # Within-subject: each participant is their own control (sign-flip permutation).
            paired = [(by_participant[(p, "with")], by_participant[(p, "without")]) for p in both]
            difference, p_value = paired_permutation_test(paired)
            test = "paired"
        else:
            groups = [(shown, answers) for (_, shown), answers in by_participant.items()]
            difference, p_value = cluster_permutation_test(groups, "with", "without")
            test = "between"
        effects.append(
            {
                "stimulus": stimulus,
                "difference": difference,
                "p_value": p_value,
                "test": test,
                "participants": len({p for p, _ in by_participant}),
            }
        )
    return {"rates": rates, "explanation_effect": effects}


def manipulation_checks(study: Study, given: list[answers.Answer] | None = None) -> list[dict]:
    cells: dict[str, Counter] = defaultdict(Counter)
    given = answers.load(study, Study.TaskKind.MANIPULATION_CHECK) if given is None else given
    for row in given:
        display, item, answer = row.display, row.item, row.answer
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


def agreement(study: Study, given: dict[str, list[answers.Answer]] | None = None) -> list[dict]:
    """`given`: the answers already loaded, by task kind (loaded here when absent)."""
    # The kinds the study's versions asked (attention checks are not judgments).
    kinds = sorted({version.config["task_kind"] for version in study.versions.all()})
    rows = []
    for kind in kinds:
        units: dict[tuple[str, str], dict[tuple, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
        loaded = (given or {}).get(kind)
        for row in answers.load(study, kind) if loaded is None else loaded:
            participant, display, item, answer, condition = (
                row.participant_id,
                row.display,
                row.item,
                row.answer,
                row.condition,
            )
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
