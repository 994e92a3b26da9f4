"""Label checks, manipulation checks and agreement (the paper's second study and the
reliability of every judgment), from the answered data trials of valid real participants.

- Label checks: the share of "yes" (the model's label is reasonable) per stimulus type and
  explanation display, and for each stimulus type the difference with versus without an
  explanation, tested by permuting whole participants (their answers are not independent).
  Participants who saw both (within-subject blocks) are compared with themselves instead:
  a sign-flip permutation test of their own differences. Only a study whose conditions or
  blocks show an explanation to some and none to others has that difference; any other
  says why not (`explanation_effect_why_not`).
- Forced choices: the same for the share preferring the model's label to the dataset's, and
  the images where most raters preferred it.
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
    krippendorff_alpha_counts,
    paired_permutation_test,
    wilson,
)
from studies.models import Study

NO_EXPLANATION = "none"


def label_checks(study: Study, given: list[answers.Answer] | None = None) -> dict:
    """The share who found the model's label reasonable ("yes")."""
    given = answers.load(study, Study.TaskKind.LABEL_CHECK) if given is None else given
    return _shares(study, given, lambda row: row.answer.get("choice") == "yes", "accepted")


def forced_choices(study: Study, given: list[answers.Answer] | None = None) -> dict:
    """The share who preferred the model's label to the dataset's (an item's labels are the
    dataset's, then the model's), and the images where most valid raters did: mistakes
    that people judge correct."""
    given = answers.load(study, Study.TaskKind.FORCED_CHOICE) if given is None else given
    found = _shares(study, given, _prefers_model, "model_preferred")
    votes: dict[int, list[int]] = defaultdict(list)
    items = {}
    for row in given:
        votes[row.item.id].append(int(_prefers_model(row)))
        items[row.item.id] = row.item
    found["model_preferred_items"] = [
        {
            "image": items[item_id].image.original_name,
            "dataset_label": items[item_id].labels[0]["text"],
            "model_label": items[item_id].labels[1]["text"],
            "stimulus": "adversarial" if items[item_id].adversarial_id else "clean",
            "preferred_by": sum(chosen),
            "raters": len(chosen),
        }
        for item_id, chosen in sorted(votes.items())
        if 2 * sum(chosen) > len(chosen)
    ]
    return found


def _prefers_model(row: answers.Answer) -> bool:
    return row.answer.get("choice") == row.item.labels[1]["id"]


def explanation_displays(study: Study) -> set[str]:
    """Every way the study's versions show explanations: a version's block levels where
    they set the display (they override the condition, see allocation.display_of), else
    its conditions'."""
    shown = set()
    for version in study.versions.all():
        config = version.config
        levels = config.get("blocks") or []
        by_block = {level["explanation_display"] for level in levels if "explanation_display" in level}
        shown |= by_block or {condition["explanation_display"] for condition in config["conditions"]}
    return shown


def why_no_explanation_effect(shown: set[str]) -> str | None:
    """Why a study showing explanations in the ways `shown` has no difference with versus
    without one; None when it has one (no explanation for some, one for others)."""
    if NO_EXPLANATION in shown and len(shown) > 1:
        return None
    if not shown:
        return "the study has not been launched"
    if len(shown) == 1:
        return f"every participant sees the same explanation display ({next(iter(shown))})"
    return f"no condition or block shows no explanation (they show {', '.join(sorted(shown))})"


def _shares(study: Study, given: list[answers.Answer], success, name: str) -> dict:
    """The share of successes per stimulus type and explanation display, and for each
    stimulus type the difference with versus without an explanation, tested on whole
    participants, when the study's design has both."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    people: dict[tuple[str, str], set[int]] = defaultdict(set)
    clusters: dict[str, dict[tuple[int, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in given:
        participant, display = row.participant_id, row.display
        stimulus = "adversarial" if row.item.adversarial_id else "clean"
        outcome = int(success(row))
        groups[(stimulus, display)].append(outcome)
        people[(stimulus, display)].add(participant)
        shown = "with" if display != NO_EXPLANATION else "without"
        clusters[stimulus][(participant, shown)].append(outcome)
    rates = [
        {
            "stimulus": stimulus,
            "display": display,
            name: wilson(sum(v), len(v)),
            "participants": len(people[(stimulus, display)]),
        }
        for (stimulus, display), v in sorted(groups.items())
    ]
    why_not = why_no_explanation_effect(explanation_displays(study))
    effects = [] if why_not else [_effect(s, by) for s, by in sorted(clusters.items())]
    return {"rates": rates, "explanation_effect": effects, "explanation_effect_why_not": why_not}


def _effect(stimulus: str, by_participant: dict[tuple[int, str], list[int]]) -> dict:
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
        groups = [(shown, outcomes) for (_, shown), outcomes in by_participant.items()]
        difference, p_value = cluster_permutation_test(groups, "with", "without")
        test = "between"
    return {
        "stimulus": stimulus,
        "difference": difference,
        "p_value": p_value,
        "test": test,
        "participants": len({p for p, _ in by_participant}),
    }


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
        loaded = (given or {}).get(kind)
        rated = answers.load(study, kind) if loaded is None else loaded
        counts = _topk_counts(rated) if kind == Study.TaskKind.TOPK_SELECT else _choice_counts(rated)
        for (condition, display), by_unit in sorted(counts.items()):
            rows.append(
                {"task_kind": kind, "condition": condition, "display": display, **_agreement(by_unit)}
            )
    return rows


def _choice_counts(rated: list[answers.Answer]) -> dict[tuple[str, str], dict[tuple, Counter]]:
    """Per (condition, display) and item: how many raters gave each answer."""
    counts: dict[tuple[str, str], dict[tuple, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for row in rated:
        counts[(row.condition, row.display)][(row.item.id,)][row.answer.get("choice")] += 1
    return counts


def _topk_counts(rated: list[answers.Answer]) -> dict[tuple[str, str], dict[tuple, Counter]]:
    """Each label of a top-k item (and "none") is a yes/no unit rated by everyone who
    judged the item: per unit, how many said yes and how many no."""
    raters: dict[tuple, Counter] = defaultdict(Counter)  # (group, item id) -> raters, yes per label
    items = {}
    for row in rated:
        key = ((row.condition, row.display), row.item.id)
        items[row.item.id] = row.item
        raters[key][None] += 1
        for label in row.answer.get("selected", []):
            raters[key][label] += 1
    counts: dict[tuple[str, str], dict[tuple, Counter]] = defaultdict(dict)
    for (group, item_id), tally in raters.items():
        for label in [*items[item_id].labels, {"id": "none"}]:
            yes = tally[label["id"]]
            counts[group][(item_id, label["id"])] = Counter(yes=yes, no=tally[None] - yes)
    return counts


def _agreement(by_unit: dict[tuple, Counter]) -> dict:
    """Fleiss' kappa on the units with the most common number of raters, Krippendorff's
    alpha on every unit, from the count of each answer per unit."""
    alpha = krippendorff_alpha_counts(list(by_unit.values()))
    sizes = Counter(sum(c.values()) for c in by_unit.values() if sum(c.values()) >= 2)
    if not sizes:
        return {
            "units": len(by_unit),
            "fleiss_kappa": Estimate.missing("no item has two or more raters"),
            "krippendorff_alpha": alpha,
        }
    common = sizes.most_common(1)[0][0]
    chosen = [c for c in by_unit.values() if sum(c.values()) == common]
    categories = sorted({v for c in chosen for v, n in c.items() if n}, key=str)
    table = np.array([[c[category] for category in categories] for c in chosen])
    return {"units": len(by_unit), "fleiss_kappa": fleiss_kappa(table), "krippendorff_alpha": alpha}
