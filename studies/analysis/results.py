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
    if Study.TaskKind.MANIPULATION_CHECK in loaded:
        found["manipulation_checks"] = choices.manipulation_checks(
            study, loaded[Study.TaskKind.MANIPULATION_CHECK]
        )
    found["agreement"] = choices.agreement(study, loaded)
    return found


def label_check_chart(analysis: dict) -> str:
    rows = [(f"{r['stimulus']}, {r['display']}", r["accepted"]) for r in analysis["rates"]]
    return charts.interval_bars("Label checks: share who found the model's label reasonable", rows)


def topk_chart(analysis: dict) -> str:
    rows = [(label, analysis[name]) for name, label in TOPK_RATES]
    return charts.interval_bars("Top-k judgment: the dataset's error against the rectified error", rows)
