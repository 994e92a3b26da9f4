"""Exclusion rules: declarative, frozen with the version, each firing recorded with its
evidence.

A rule is {"rule": name, "threshold": number, "mode": "live" | "posthoc"}:

- failed_attention: attention checks failed >= threshold (a whole number >= 1);
- gold_accuracy: accuracy on gold trials (known answers) < threshold (0–1);
- median_rt: median reaction time of data trials < threshold ms;
- same_answer: the most frequent answer covers > threshold % of data trials;
- hidden_time: the page was hidden > threshold s in all, over every trial.

Live rules are checked after every answer and end the session with the screened-out
outcome, giving back its place; post-hoc rules are checked when a session completes and
only flag it. Either way the participant no longer counts as valid (quotas, K, analysis).
Rates and medians are judged on enough evidence only: from half of the relevant trials
answered (a live rule does not end a session on its first answer by chance).
"""

import json
import statistics

from studies.models import ExclusionEvent, Participant, Trial
from studies.services import client_info, task_kinds

RULES = ("failed_attention", "gold_accuracy", "median_rt", "same_answer", "hidden_time")
MODES = ("live", "posthoc")
LIMITS = {
    "failed_attention": (1, 1000),
    "gold_accuracy": (0, 1),
    "median_rt": (0, 3_600_000),
    "same_answer": (0, 100),
    "hidden_time": (0, 86_400),
}
Role = Trial.Role


def validate(rules) -> list[dict]:
    """The rules in canonical form; ValueError naming the first bad one."""
    if not isinstance(rules, list):
        raise ValueError("exclusion rules must be a list of {rule, threshold, mode}")
    canonical = []
    for n, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or set(rule) != {"rule", "threshold", "mode"}:
            raise ValueError(f"exclusion rule {n} must have exactly the fields rule, threshold and mode")
        name, threshold, mode = rule["rule"], rule["threshold"], rule["mode"]
        if name not in RULES:
            raise ValueError(f"exclusion rule {n}: unknown rule {name!r} (one of {', '.join(RULES)})")
        if mode not in MODES:
            raise ValueError(f"exclusion rule {n}: mode must be live or posthoc, got {mode!r}")
        low, high = LIMITS[name]
        numeric = isinstance(threshold, int | float) and not isinstance(threshold, bool)
        if not numeric or not low <= threshold <= high or (name == "failed_attention" and threshold % 1):
            raise ValueError(
                f"exclusion rule {n}: {name} needs a threshold from {low} to {high}, got {threshold!r}"
            )
        canonical.append({"rule": name, "threshold": threshold, "mode": mode})
    return canonical


def _answers(participant: Participant):
    trials = participant.trials.filter(response__isnull=False).select_related("response").order_by("index")
    return [(trial, trial.response) for trial in trials]


def _enough(answered: int, total: int) -> bool:
    return answered > 0 and 2 * answered >= total


def measure(rule: str, participant: Participant) -> dict | None:
    """The evidence for `rule` ({"value", ...counts}), or None while there is too little."""
    answers = _answers(participant)
    counts = dict.fromkeys(Role.values, 0)
    for role in participant.trials.values_list("role", flat=True):
        counts[role] += 1
    data = [(t, r) for t, r in answers if t.role == Role.MAIN]
    if rule == "failed_attention":
        checks = [task_kinds.is_correct(t, r.answer) for t, r in answers if t.role == Role.ATTENTION]
        return {"value": checks.count(False), "answered": len(checks)}
    if rule == "gold_accuracy":
        gold = [task_kinds.is_correct(t, r.answer) for t, r in answers if t.role == Role.GOLD]
        if not _enough(len(gold), counts[Role.GOLD]):
            return None
        return {"value": round(gold.count(True) / len(gold), 4), "answered": len(gold)}
    if rule == "median_rt":
        if not _enough(len(data), counts[Role.MAIN]):
            return None
        return {"value": statistics.median(r.rt_ms for _, r in data), "answered": len(data)}
    if rule == "same_answer":
        if not _enough(len(data), counts[Role.MAIN]):
            return None
        keys = [json.dumps(r.answer, sort_keys=True) for _, r in data]
        top = max(set(keys), key=keys.count)
        return {
            "value": round(100 * keys.count(top) / len(keys), 2),
            "answered": len(keys),
            "answer": json.loads(top),
        }
    hidden = sum(client_info.hidden_ms(r.client) or 0 for _, r in answers)
    return {"value": round(hidden / 1000, 3), "answered": len(answers)}


def _fires(rule: dict, evidence: dict) -> bool:
    value, threshold = evidence["value"], rule["threshold"]
    if rule["rule"] == "failed_attention":
        return value >= threshold
    if rule["rule"] in ("gold_accuracy", "median_rt"):
        return value < threshold
    return value > threshold


def apply(participant: Participant, mode: str) -> list[ExclusionEvent]:
    """Check the participant against the version's rules of `mode`; record and return the
    ones that fire (each rule fires at most once per participant)."""
    rules = [r for r in participant.version.config.get("exclusion_rules", []) if r["mode"] == mode]
    if not rules:
        return []  # most studies have none: every answer would pay for the query below
    fired = set(participant.exclusions.values_list("rule", flat=True))
    events = []
    for rule in rules:
        if rule["rule"] in fired:
            continue
        evidence = measure(rule["rule"], participant)
        if evidence is not None and _fires(rule, evidence):
            events.append(
                ExclusionEvent.objects.create(
                    participant=participant,
                    rule=rule["rule"],
                    mode=mode,
                    threshold=rule["threshold"],
                    evidence=evidence,
                )
            )
    if events and not participant.excluded:
        participant.excluded = True
        participant.save(update_fields=["excluded"])
    return events
