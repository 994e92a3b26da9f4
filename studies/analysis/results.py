"""What the results page shows for a study, as numbers (also served as JSON)."""

from dataclasses import asdict

from studies.analysis import answers, charts, choices, topk
from studies.analysis.statistics import Estimate
from studies.models import Study
from studies.services import export

TOPK_RATES = [
    ("dataset_top1_error", "Dataset top-1 error"),
    ("rectified_top1_error", "Rectified top-1 error"),
    ("dataset_topk_error", "Dataset top-k error"),
    ("rectified_topk_error", "Rectified top-k error"),
    ("mistakes_accepted", "Mistakes people accept"),
]


def as_json(value):
    """Estimates and nested results as plain JSON."""
    if isinstance(value, Estimate):
        return asdict(value)
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return value


def results(study: Study, threshold: float = topk.THRESHOLD) -> dict:
    reproducibility = export.codebook(study)["reproducibility"]
    reproducibility.pop("versions")  # the codebook has the full frozen configurations
    found = {"study": study.slug, "task_kind": study.task_kind, "reproducibility": reproducibility}
    # Each kind's answers are read once and shared by every analysis of them.
    kinds = sorted({version.config["task_kind"] for version in study.versions.all()})
    loaded = {kind: answers.load(study, kind) for kind in kinds}
    if Study.TaskKind.TOPK_SELECT in loaded:
        found["topk"] = topk.analyse(study, threshold, loaded[Study.TaskKind.TOPK_SELECT])
    if Study.TaskKind.LABEL_CHECK in loaded:
        found["label_checks"] = choices.label_checks(study, loaded[Study.TaskKind.LABEL_CHECK])
    if Study.TaskKind.FORCED_CHOICE in loaded:
        found["forced_choices"] = choices.forced_choices(study, loaded[Study.TaskKind.FORCED_CHOICE])
    if Study.TaskKind.MANIPULATION_CHECK in loaded:
        found["manipulation_checks"] = choices.manipulation_checks(
            study, loaded[Study.TaskKind.MANIPULATION_CHECK]
        )
    found["agreement"] = choices.agreement(study, loaded)
    return found


def chart_svgs(found: dict) -> dict[str, str]:
    """One SVG chart per analysed section of `found` (what results() returned)."""
    svgs = {}
    if "topk" in found:
        rows = [(label, found["topk"][name]) for name, label in TOPK_RATES]
        svgs["topk"] = charts.interval_bars(
            "Top-k judgment: the dataset's error against the rectified error", rows
        )
    for section, measure, title in (
        ("label_checks", "accepted", "Label checks: share who found the model's label reasonable"),
        ("forced_choices", "model_preferred", "Forced choices: share preferring the model's label"),
    ):
        if section in found:
            rows = [(f"{r['stimulus']}, {r['display']}", r[measure]) for r in found[section]["rates"]]
            svgs[section] = charts.interval_bars(title, rows)
            if found[section]["explanation_effect_why_not"]:
                continue  # nothing to compare: no chart (the page says why)
            effects = [(e["stimulus"], e["difference"]) for e in found[section]["explanation_effect"]]
            svgs[f"{section}_effect"] = charts.interval_bars(
                "Difference with − without an explanation", effects, domain=(-1.0, 1.0)
            )
    if found.get("manipulation_checks"):
        rows = found["manipulation_checks"]
        rates = [(f"{r['display']}: hits", r["hit_rate"]) for r in rows]
        rates += [(f"{r['display']}: false alarms", r["false_alarm_rate"]) for r in rows]
        svgs["manipulation_rates"] = charts.interval_bars(
            "Manipulation checks: hit and false-alarm rates", rates
        )
        dprimes = [(r["display"], r["dprime"]) for r in rows]
        highest = max([3.0] + [r["dprime"].high for r in rows if r["dprime"].high is not None])
        svgs["manipulation_dprime"] = charts.interval_bars(
            "Manipulation checks: sensitivity d′",
            dprimes,
            domain=(min(0.0, -highest / 3), highest),
            percent=False,
        )
    if found["agreement"]:
        rows = [
            (f"{r['task_kind']}, {r['condition']}, {r['display']}: {name}", r[key])
            for r in found["agreement"]
            for key, name in (("fleiss_kappa", "κ"), ("krippendorff_alpha", "α"))
        ]
        svgs["agreement"] = charts.interval_bars(
            "Agreement between raters", rows, domain=(-1.0, 1.0), percent=False
        )
    return svgs
